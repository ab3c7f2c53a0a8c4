// Per-user connection slots and the connected-client list when a socket closes during its CONNECT
// (issue 13, item 8): a socket closed while its password is verified must not keep a slot of its user,
// and a client closed between authentication and registration must not stay listed ("ghost").
import type { Client } from 'aedes'
import { once } from 'node:events'
import { expect, it } from 'vitest'
import { PASSWORD } from '../helpers/broker.js'
import { get } from '../helpers/http.js'
import { connackFrom, connectPacket, rawClient } from '../helpers/raw-mqtt.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()

it('a socket closed while its login is verified does not keep one of its user\'s connection slots', async () => {
  const b = await scope.start({ config: { limits: { maxConnectionsPerUser: 2 } } })
  const dir = b.broker.directory
  const verify = dir.authenticate.bind(dir)
  for (let i = 0; i < 3; i++) {
    const s = scope.track(await rawClient(b.port, { localAddress: `127.0.0.${21 + i}` }))
    // the verification answers only once the socket has closed, as a slow scrypt under load would
    let started!: () => void
    const verifying = new Promise<void>((resolve) => { started = resolve })
    dir.authenticate = async (...args) => { started(); await s.closed(); await new Promise((resolve) => setImmediate(resolve)); return await verify(...args) }
    s.send(connectPacket('sensor-1', `gone-${i}`))
    await verifying
    s.destroy()
    await s.closed()
  }
  dir.authenticate = verify
  expect(await connackFrom(b.port, '127.0.0.9', 'sensor-1', PASSWORD, 'real-1')).toBe(0)
  expect(await connackFrom(b.port, '127.0.0.9', 'sensor-1', PASSWORD, 'real-2')).toBe(0)
  expect(scope.count('connect:max-user-connections')).toBe(0)
})

it('a client closed between authentication and registration is not listed as connected', async () => {
  const b = await scope.start()
  const store = (b.broker.aedes as unknown as { persistence: unknown }).persistence as { cleanSubscriptions: (c: Client) => Promise<unknown> }
  const clean = store.cleanSubscriptions.bind(store)
  // a CONNECT step after authentication: the socket closes there (and aedes's close runs) before registration
  store.cleanSubscriptions = async (client) => {
    if (client.id === 'ghost') {
      const closed = once(client.conn, 'close')
      client.conn.destroy()
      await closed
    }
    return await clean(client)
  }
  const s = scope.track(await rawClient(b.port))
  s.send(connectPacket('sensor-1', 'ghost'))
  await s.closed()
  store.cleanSubscriptions = clean
  // registered after its close: reaped as soon as it is
  await new Promise<void>((resolve) => { if (b.broker.aedes.connectedClients === 0) resolve(); else b.broker.aedes.once('clientDisconnect', () => resolve()) })
  const listed = (await get(b, '/api/v1/clients')).body as { total: number, clients: Array<{ clientId: string }> }
  expect(listed.clients.map((c) => c.clientId)).not.toContain('ghost')
  expect(b.broker.aedes.connectedClients).toBe(0)
  expect(await connackFrom(b.port, '127.0.0.9', 'sensor-1', PASSWORD, 'ghost')).toBe(0)
})
