// A change request in flight when its account changes, as an admin about to be demoted would use one: the
// request's headers (and its session) are checked at once, its body may follow up to requestTimeout later. The
// change must be judged by the account as it is when the body has come, not as it was when the headers did.
import { request as httpRequest, type ClientRequest } from 'node:http'
import { expect, it } from 'vitest'
import { PASSWORD, type TestBroker } from '../helpers/broker.js'
import { basic, del, get, patch, post, topicPath } from '../helpers/http.js'
import { useScope } from '../helpers/scope.js'
import { send, signIn, withCookie, type Answer } from '../helpers/sign-in.js'

const scope = useScope()

/** a POST whose headers are sent now and whose body is sent by `finish` */
function held (tb: TestBroker, path: string, headers: Record<string, string>, body: unknown): { finish: () => Promise<Answer> } {
  const text = JSON.stringify(body)
  let req: ClientRequest | undefined
  const answer = new Promise<Answer>((resolve, reject) => {
    req = httpRequest({
      host: '127.0.0.1', port: tb.broker.http.port, method: 'POST', path, agent: false,
      headers: { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) }
    }, (res) => {
      let t = ''
      res.on('data', (d: Buffer) => { t += d.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: t === '' ? undefined : JSON.parse(t) }))
    })
    req.on('error', reject)
    req.flushHeaders()
  })
  scope.defer(() => req?.destroy())
  return { finish: async () => { req?.end(text); return await answer } }
}

it('a change whose body comes after its admin was demoted is refused, and changes nothing', async () => {
  const b = await scope.start()
  expect((await post(b, '/api/v1/users', { username: 'ops', password: PASSWORD, roles: ['admin'] })).status).toBe(201)
  const ops = await signIn(b, 'ops')
  const signedIn = await send(b, 'GET', '/auth/session', { headers: withCookie(ops, { 'x-warden-background': '1' }) })
  // the held request's check of the session restarts its idle timer: seen as a later expiry
  const t0 = Date.now()
  while (Date.now() <= t0 + 1) { /* the next millisecond: the check's time differs from the sign-in's */ }
  const inFlight = held(b, '/api/v1/users', withCookie(ops, { 'x-csrf-token': ops.csrf }), { username: 'backdoor', password: PASSWORD, roles: ['admin'] })
  for (;;) {
    const now = await send(b, 'GET', '/auth/session', { headers: withCookie(ops, { 'x-warden-background': '1' }) })
    if (now.body.expiresAt !== signedIn.body.expiresAt) break
  }
  // another admin demotes ops: its session ends
  expect((await patch(b, '/api/v1/users/ops', { roles: ['observer'] })).status).toBe(200)
  expect((await send(b, 'GET', '/api/v1/status', { headers: withCookie(ops) })).status).toBe(401)

  const late = await inFlight.finish()
  expect(late.status).toBe(401)
  expect((await get(b, '/api/v1/users/backdoor')).status).toBe(404)
})

it('with HTTP Basic too: the body of a deleted admin\'s request in flight makes nothing', async () => {
  const b = await scope.start()
  expect((await post(b, '/api/v1/users', { username: 'ops', password: PASSWORD, roles: ['admin'] })).status).toBe(201)
  // verified once: the held request's credentials are then checked at once, from the directory's memory
  expect((await get(b, '/api/v1/status', { as: 'ops' })).status).toBe(200)
  const inFlight = held(b, '/api/v1/topics', { authorization: basic('ops') }, { filter: 'backdoor/#', owners: ['sensor-1'] })
  // a request sent after the held one's headers, answered: the held one's credentials were checked before
  expect((await get(b, '/api/v1/status', { as: 'ops' })).status).toBe(200)
  expect((await del(b, '/api/v1/users/ops')).status).toBe(200)

  const late = await inFlight.finish()
  expect(late.status).toBe(401)
  expect((await get(b, topicPath('backdoor/#'))).status).toBe(404)
})

it('a change of another account while a request is in flight does not refuse it', async () => {
  const b = await scope.start()
  const admin = await signIn(b, 'admin')
  const inFlight = held(b, '/api/v1/topics', withCookie(admin, { 'x-csrf-token': admin.csrf }), { filter: 'plant/#', owners: ['sensor-1'] })
  expect((await patch(b, '/api/v1/users/sensor-2', { roles: ['producer', 'consumer'] })).status).toBe(200)
  expect((await inFlight.finish()).status).toBe(201)
  const basicHeld = held(b, '/api/v1/topics', { authorization: basic('admin') }, { filter: 'plant2/#', owners: ['sensor-1'] })
  expect((await del(b, '/api/v1/users/sensor-2')).status).toBe(200)
  expect((await basicHeld.finish()).status).toBe(201)
})
