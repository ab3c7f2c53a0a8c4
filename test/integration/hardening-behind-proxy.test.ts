// behindProxy: with a reverse proxy on the broker's host every proxied client arrives from loopback, so
// loopback-only accounts (plain-text demo passwords) are refused from every address, on MQTT and HTTP.
import { expect, it } from 'vitest'
import { baseConfig, PASSWORD } from '../helpers/broker.js'
import { get } from '../helpers/http.js'
import { connackCode } from '../helpers/mqtt.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()

async function withDemo (extra: Record<string, unknown>): Promise<Record<string, unknown>> {
  const base = await baseConfig()
  return { ...extra, users: [...(base.users as object[]), { username: 'demo', password: 'demo-secret', roles: ['admin'] }] }
}

it('refuses a plain-password account from loopback when behindProxy is set: CONNACK 5 and 401', async () => {
  const tb = await scope.start({ config: await withDemo({ behindProxy: true }) })
  expect(await connackCode(tb.url, { username: 'demo', password: 'demo-secret' })).toBe(5)
  expect((await get(tb, '/api/v1/status', { as: ['demo', 'demo-secret'] })).status).toBe(401)
  // hashed accounts are not affected
  expect(await connackCode(tb.url, { username: 'admin', password: PASSWORD })).toBe(0)
  expect((await get(tb, '/api/v1/status', { as: 'admin' })).status).toBe(200)
  expect(scope.events.filter((e) => e.username === 'demo').map((e) => e.detail)).toEqual([
    'loopback-only account refused: behindProxy is set',
    'HTTP API: loopback-only account refused: behindProxy is set'
  ])
})

it('accepts the same account from loopback without behindProxy (the demo set-up)', async () => {
  const tb = await scope.start({ config: await withDemo({}) })
  expect(await connackCode(tb.url, { username: 'demo', password: 'demo-secret' })).toBe(0)
  expect((await get(tb, '/api/v1/status', { as: ['demo', 'demo-secret'] })).status).toBe(200)
})
