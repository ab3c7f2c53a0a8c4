// Dashboard sessions in Redis, as an account holder racing its own sign-ins would use them: sign-ins sent at
// the same instant to both workers must not take more than maxSessionsPerUser places, nor the whole table
// (maxSessions), locking every other account out of the dashboard.
import { expect, it } from 'vitest'
import { PASSWORD, type TestBroker } from '../helpers/broker.js'
import { useSharedRedis } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'
import { send, withCookie, type Signed } from '../helpers/sign-in.js'

// before the scope: emptied once the test's brokers are closed
const redis = useSharedRedis()
const scope = useScope()

const node = (brokerId: string, dashboard: Record<string, unknown>): Promise<TestBroker> =>
  scope.startAnother({ config: { persistence: 'redis', redis: { url: redis.url }, brokerId, dashboard } })

it('concurrent sign-ins of one account across workers keep to maxSessionsPerUser and leave room for others', async () => {
  const bounds = { maxSessions: 4, maxSessionsPerUser: 2 }
  const [a, b] = await Promise.all([node('a', bounds), node('b', bounds)])
  const tries = await Promise.all(Array.from({ length: 12 }, (_, i) =>
    send(i % 2 === 0 ? a : b, 'POST', '/auth/login', { body: { username: 'observer', password: PASSWORD } })))
  const signed: Signed[] = tries.filter((t) => t.status === 200).map((t) => ({
    cookie: ((t.headers['set-cookie'] as string[])[0] as string).split(';')[0] as string, csrf: t.body.csrf as string, setCookie: ''
  }))
  expect(signed.length).toBeGreaterThan(0)
  const live = (await Promise.all(signed.map(async (s) => (await send(a, 'GET', '/auth/session', { headers: withCookie(s) })).status)))
    .filter((s) => s === 200).length
  expect(live).toBeLessThanOrEqual(bounds.maxSessionsPerUser)
  // another account still signs in
  const admin = await send(b, 'POST', '/auth/login', { body: { username: 'admin', password: PASSWORD } })
  expect(admin.status).toBe(200)
})
