// A bare aedes 1.2 broker (no Warden) on a loopback port, for the adapter's contract test and canaries.
import { createServer, type Server } from 'node:net'
import { once } from 'node:events'
import { Duplex, PassThrough } from 'node:stream'
import { Aedes, type AedesOptions, type Client } from 'aedes'
import mqttPacket from 'mqtt-packet'
import type { AddressInfo } from 'node:net'
import { clientsOf } from '../../apps/broker/src/aedes/accessors.js'
import { clientInternals, type ClientInternals } from '../../apps/broker/src/aedes/internals.js'

export interface BareBroker {
  readonly broker: Aedes
  readonly port: number
  /** an aedes Client on a stream that never sends anything (its fields as aedes creates them) */
  idleClient (): Client
  close (): Promise<void>
}

export async function startBareBroker (opts: AedesOptions = {}): Promise<BareBroker> {
  const broker = await Aedes.createBroker(opts)
  const server: Server = createServer(broker.handle)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const streams: PassThrough[] = []
  return {
    broker,
    port: (server.address() as AddressInfo).port,
    idleClient () {
      const s = new PassThrough()
      streams.push(s)
      return broker.handle(s)
    },
    async close () {
      for (const s of streams) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await new Promise<void>((resolve) => broker.close(() => resolve()))
    }
  }
}

/** resolves once `check` holds, polling; rejects after `ms` */
export async function until (check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** the aedes Client connected under `id`, seen through the adapter's typed view */
export function clientOf (bare: BareBroker, id: string): ClientInternals & Client {
  const c = clientsOf(bare.broker)[id]
  if (c === undefined) throw new Error(`no client ${id}`)
  return clientInternals(c) as ClientInternals & Client
}

/** Connects `clientId` to `broker` over an in-memory stream (no listener); resolves once aedes has it ready. */
export async function connectInMemory (broker: Aedes, clientId: string, clean = false): Promise<{ client: Client, conn: Duplex }> {
  const conn = new Duplex({ read () {}, write (_chunk, _enc, cb) { cb() } })
  const client = broker.handle(conn)
  const ready = new Promise<void>((resolve) => {
    const onReady = (c: Client): void => { if (c === client) { broker.removeListener('clientReady', onReady); resolve() } }
    broker.on('clientReady', onReady)
  })
  conn.push(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean, clientId, keepalive: 0 }))
  await ready
  return { client, conn }
}
