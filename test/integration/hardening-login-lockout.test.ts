// Login defences that must not be usable against honest devices (issue 13, items 5 and 6): lockouts are
// per (username, address) and per address, never per username; logins in flight are bounded before any
// verification, so parallel guesses cannot outrun the failure count. MQTT and the HTTP API alike.
import { expect, it } from 'vitest'
import { baseConfig, PASSWORD } from '../helpers/broker.js'
import { hashPassword } from '../../apps/broker/src/auth/password.js'
import { getFrom, post } from '../helpers/http.js'
import { connackFrom, connectPacket, rawClient } from '../helpers/raw-mqtt.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
const ATTACKER = '127.0.0.5'
const DEVICE = '127.0.0.9'
/** no refusal delays: the tests are about who gets locked, not how slowly */
const start = (login: Record<string, unknown> = {}) => scope.start({ config: { limits: { login: { delayMs: 0, ...login } } } })

it('MQTT: ten wrong passwords from one address lock that (username, address) pair, not the username elsewhere', async () => {
  const b = await start()
  for (let i = 0; i < 10; i++) expect(await connackFrom(b.port, ATTACKER, 'sensor-1', `guess-${i}`)).toBe(4)
  expect(await connackFrom(b.port, ATTACKER, 'sensor-1', PASSWORD)).toBe(3)
  expect(await connackFrom(b.port, DEVICE, 'sensor-1', PASSWORD)).toBe(0)
  // the attacker's address may still log in as someone else (not locked per address below 100 failures)
  expect(await connackFrom(b.port, ATTACKER, 'sensor-2', PASSWORD)).toBe(0)
  expect(scope.events.find((e) => e.reason === 'login-throttled')).toMatchObject({ kind: 'connect', username: 'sensor-1', address: ATTACKER })
  expect(scope.count('connect:login-throttled')).toBe(1)
})

it('MQTT: an honest device logs in while an attacker hammers the same username from elsewhere', async () => {
  const b = await start()
  let stop = false
  const hammer = async (k: number): Promise<void> => {
    // eslint-disable-next-line no-unmodified-loop-condition -- the test sets stop while the loop awaits
    for (let i = 0; !stop; i++) await connackFrom(b.port, ATTACKER, 'sensor-1', `guess-${k}-${i}`)
  }
  const attackers = [0, 1, 2, 3].map(hammer)
  try {
    // well past every threshold: the attacker's pair and address are locked, the device is not
    while (scope.count('connect:bad-credentials') < 12) await connackFrom(b.port, ATTACKER, 'nobody', 'x')
    for (let i = 0; i < 3; i++) expect(await connackFrom(b.port, DEVICE, 'sensor-1', PASSWORD, `device-${i}`)).toBe(0)
  } finally {
    stop = true
    await Promise.all(attackers)
  }
  expect(scope.count('connect:login-throttled') + scope.count('connect:login-pending')).toBeGreaterThan(0)
})

it('HTTP API: wrong passwords for admin from one address do not lock admin out from another', async () => {
  const b = await start()
  for (let i = 0; i < 10; i++) expect((await getFrom(b, ATTACKER, '/api/v1/status', ['admin', `guess-${i}`])).status).toBe(401)
  const locked = await getFrom(b, ATTACKER, '/api/v1/status', ['admin', PASSWORD])
  expect(locked.status).toBe(429)
  expect(Number(locked.retryAfter)).toBeGreaterThan(0)
  expect((await getFrom(b, DEVICE, '/api/v1/status', ['admin', PASSWORD])).status).toBe(200)
})

it('MQTT: parallel guesses are refused past the logins in flight, before verification; the right one among them is not let through', async () => {
  // a failed login stays in flight while its refusal is held back: 2 s, so that all 30 CONNECTs arrive while
  // the first two are in flight however loaded the machine is
  const b = await scope.start({ config: { limits: { login: { delayMs: 2000, maxDelayMs: 5000 } } } })
  const sockets = await Promise.all(Array.from({ length: 30 }, () => rawClient(b.port, { localAddress: ATTACKER }).then(scope.track)))
  sockets.forEach((s, i) => s.send(connectPacket('sensor-1', `guess-${i}`, { password: Buffer.from(i === 15 ? PASSWORD : `guess-${i}`) })))
  const codes = await Promise.all(sockets.map(async (s) => ((await s.next('connack')) as { returnCode: number }).returnCode))
  expect(codes[15]).not.toBe(0)
  expect(codes.filter((c) => c === 0)).toHaveLength(0)
  // verified: at most the pair's two in flight (limits.login.maxPendingPerUserAddress)
  expect(scope.count('connect:bad-credentials')).toBeLessThanOrEqual(4)
  expect(scope.count('connect:login-pending')).toBeGreaterThan(0)
  expect(scope.events.find((e) => e.reason === 'login-pending'))
    .toMatchObject({ kind: 'connect', username: 'sensor-1', address: ATTACKER, detail: expect.stringMatching(/logins in progress/) as unknown })
})

it('HTTP API: parallel guesses get 429 past the logins in flight, without being verified', async () => {
  const b = await scope.start()
  const replies = await Promise.all(Array.from({ length: 40 }, (_, i) => getFrom(b, ATTACKER, '/api/v1/status', ['admin', `guess-${i}`])))
  expect(replies.filter((r) => r.status === 429).length).toBeGreaterThan(30)
  expect(scope.count('connect:bad-credentials')).toBeLessThanOrEqual(4)
  expect(scope.count('connect:login-pending')).toBeGreaterThan(0)
})

it('MQTT: one username logging in from many addresses at once is queued, not refused', async () => {
  const b = await start()
  const codes = await Promise.all([11, 12, 13, 14, 15, 16].map((x, i) => connackFrom(b.port, `127.0.0.${x}`, 'sensor-1', PASSWORD, `fleet-${i}`)))
  expect(codes).toEqual([0, 0, 0, 0, 0, 0])
})

// the bound on logins in flight is for guesses: the same login sent in parallel (a script's concurrent API
// calls, devices sharing one account behind one address) is verified once and answered for all
it('HTTP API: an honest client\'s parallel requests with the same credentials all succeed, verified once', async () => {
  const b = await scope.start()
  // an account made through the API has a hash of the production cost: verifications take long enough to overlap
  expect((await post(b, '/api/v1/users', { username: 'ops', password: 'ops-secret-1', roles: ['observer'] })).status).toBe(201)
  const replies = await Promise.all(Array.from({ length: 20 }, () => getFrom(b, DEVICE, '/api/v1/status', ['ops', 'ops-secret-1'])))
  expect(replies.map((r) => r.status)).toEqual(Array.from({ length: 20 }, () => 200))
  expect(scope.count('connect:login-pending')).toBe(0)
})

it('MQTT: clients sharing one account and one address connecting at once all get CONNACK 0; one wrong guess among them does not', async () => {
  const b = await scope.start()
  const sockets = await Promise.all(Array.from({ length: 12 }, () => rawClient(b.port, { localAddress: DEVICE }).then(scope.track)))
  sockets.forEach((s, i) => s.send(connectPacket('sensor-1', `shared-${i}`, { password: Buffer.from(i === 11 ? 'guess' : PASSWORD) })))
  const codes = await Promise.all(sockets.map(async (s) => ((await s.next('connack')) as { returnCode: number }).returnCode))
  expect(codes.slice(0, 11)).toEqual(Array.from({ length: 11 }, () => 0))
  expect(codes[11]).not.toBe(0)
  expect(scope.count('connect:login-pending')).toBe(0)
})

it('MQTT: a device that logged in moments ago gets back in from an address whose login slots an attacker fills', async () => {
  // the default refusal delays: each wrong login stays in flight for a while
  const b = await scope.start()
  const NAT = '127.0.0.23'
  expect(await connackFrom(b.port, NAT, 'sensor-1', PASSWORD, 'behind-nat')).toBe(0)
  // 32 wrong logins in flight from the same address (2 per username: the pair's own bound)
  const sockets = await Promise.all(Array.from({ length: 32 }, () => rawClient(b.port, { localAddress: NAT }).then(scope.track)))
  sockets.forEach((s, i) => s.send(connectPacket(`nobody-${i >> 1}`, `guess-${i}`, { password: Buffer.from(`guess-${i}`) })))
  // the address's slots are all taken: a 33rd login waits for one, unverified
  const waiting = connackFrom(b.port, NAT, 'nobody-99', 'x')
  expect(await connackFrom(b.port, NAT, 'sensor-1', PASSWORD, 'behind-nat')).toBe(0)
  await Promise.all(sockets.map((s) => s.next('connack')))
  expect(await waiting).toBe(4)
})

it('MQTT: many accounts logging in at once from one address (a NAT rebooting) all get in, waiting for the address\'s slots', async () => {
  // the production hash cost: verifications take long enough that the logins overlap
  const passwordHash = await hashPassword(PASSWORD)
  const users = Array.from({ length: 80 }, (_, i) => ({ username: `nat-${i}`, passwordHash, roles: ['producer'] }))
  const base = (await baseConfig()).users as unknown[]
  const b = await scope.start({ config: { users: [...base, ...users] } })
  const codes = await Promise.all(users.map((u, i) => connackFrom(b.port, '127.0.0.31', u.username, PASSWORD, `nat-client-${i}`)))
  expect(codes).toEqual(users.map(() => 0))
  expect(scope.count('connect:login-pending')).toBe(0)
})
