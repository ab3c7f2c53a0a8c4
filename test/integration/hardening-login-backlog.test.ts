// The authentication backlog (issue 13, item 7): logins whose socket closed are not verified; each source
// address gets its share of verification (round-robin), so a flood from one address does not delay
// another's; a password verified moments ago is answered without waiting, and forgotten on any change to
// its account. The logins of unknown usernames pay a full-cost scrypt (the decoy): they are the backlog.
import { expect, it } from 'vitest'
import { PASSWORD } from '../helpers/broker.js'
import { patch } from '../helpers/http.js'
import { connackFrom, connectPacket, rawClient, type RawClient } from '../helpers/raw-mqtt.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
const ATTACKER = '127.0.0.5'
const DEVICE = '127.0.0.9'
const start = () => scope.start({ config: { limits: { login: { delayMs: 0 } } } })

/** n CONNECTs with unknown usernames from `from`, sent at once */
async function flood (port: number, from: string, n: number): Promise<RawClient[]> {
  const sockets = await Promise.all(Array.from({ length: n }, () => rawClient(port, { localAddress: from }).then(scope.track)))
  sockets.forEach((s, i) => s.send(connectPacket(`nobody-${i}`, `flood-${i}`, { password: Buffer.from('guess') })))
  return sockets
}

it('a login whose socket closed while it waited is not verified', async () => {
  const b = await start()
  for (const s of await flood(b.port, ATTACKER, 20)) s.destroy()
  // queued behind them, from the same address: answered once they are dropped
  expect(await connackFrom(b.port, ATTACKER, 'sensor-1', PASSWORD)).toBe(0)
  expect(scope.count('connect:bad-credentials')).toBeLessThanOrEqual(4)
})

it('a flood of logins from one address does not hold back a login from another', async () => {
  const b = await start()
  const sockets = await flood(b.port, ATTACKER, 30)
  expect(await connackFrom(b.port, DEVICE, 'sensor-1', PASSWORD)).toBe(0)
  // answered after at most a round of the flood's verifications, not after the whole flood
  expect(scope.count('connect:bad-credentials')).toBeLessThanOrEqual(4)
  await Promise.all(sockets.map((s) => s.next('connack')))
  expect(scope.count('connect:bad-credentials')).toBe(30)
})

it('a reconnect with a password verified moments ago does not wait behind its address\'s backlog', async () => {
  const b = await start()
  expect(await connackFrom(b.port, DEVICE, 'sensor-1', PASSWORD)).toBe(0)
  const sockets = await flood(b.port, DEVICE, 30)
  expect(await connackFrom(b.port, DEVICE, 'sensor-1', PASSWORD)).toBe(0)
  expect(scope.count('connect:bad-credentials')).toBeLessThanOrEqual(4)
  await Promise.all(sockets.map((s) => s.next('connack')))
})

it('a remembered password is forgotten when its account changes (password, roles)', async () => {
  const b = await start()
  const dir = b.broker.directory
  expect(await connackFrom(b.port, DEVICE, 'sensor-1', PASSWORD)).toBe(0)
  expect(dir.isVerified('sensor-1', Buffer.from(PASSWORD))).toBe(true)
  expect((await patch(b, '/api/v1/users/sensor-1', { roles: ['producer', 'consumer'] })).status).toBe(200)
  expect(dir.isVerified('sensor-1', Buffer.from(PASSWORD))).toBe(false)
  expect(await connackFrom(b.port, DEVICE, 'sensor-1', PASSWORD)).toBe(0)
  expect((await patch(b, '/api/v1/users/sensor-1', { password: 'a-new-password' })).status).toBe(200)
  expect(await connackFrom(b.port, DEVICE, 'sensor-1', PASSWORD)).toBe(4)
  expect(await connackFrom(b.port, DEVICE, 'sensor-1', 'a-new-password')).toBe(0)
})
