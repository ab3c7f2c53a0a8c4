// MQTT.js clients speaking MQTT 5 that keep whole packets: properties, the CONNACK, the server's DISCONNECT.
import mqtt, { type IClientOptions, type IConnackPacket, type IDisconnectPacket, type IPublishPacket, type MqttClient } from 'mqtt'
import { PASSWORD } from './broker.js'
import { CONNECT_TIMEOUT_MS } from './mqtt.js'
import type { Scope } from './scope.js'

export interface V5Client {
  readonly client: MqttClient
  readonly connack: IConnackPacket
  /** every PUBLISH received, in order */
  readonly got: IPublishPacket[]
  /** resolves once a PUBLISH satisfying `pred` has arrived (including ones already received) */
  next (pred: (p: IPublishPacket) => boolean): Promise<IPublishPacket>
  /** resolves once `n` PUBLISH packets have arrived */
  count (n: number): Promise<void>
  /** the server's DISCONNECT, once it came */
  disconnected (): Promise<IDisconnectPacket>
  /** resolves when the connection is closed */
  closed (): Promise<void>
  end (): Promise<void>
}

/** connects `username` (the test password) with protocolVersion 5; ended after the test */
export async function connect5 (scope: Scope, url: string, username: string, opts: IClientOptions = {}): Promise<V5Client> {
  const client = mqtt.connect(url, { username, password: PASSWORD, protocolVersion: 5, reconnectPeriod: 0, connectTimeout: CONNECT_TIMEOUT_MS, ...opts })
  let isClosed = false
  const closed = new Promise<void>((resolve) => client.once('close', () => { isClosed = true; resolve() }))
  const end = (): Promise<void> => isClosed ? Promise.resolve() : new Promise<void>((resolve) => client.end(true, {}, () => resolve()))
  scope.defer(end)
  const disconnect = new Promise<IDisconnectPacket>((resolve) => client.once('disconnect', resolve))
  const got: IPublishPacket[] = []
  const waiters: Array<{ pred: (p: IPublishPacket) => boolean, resolve: (p: IPublishPacket) => void }> = []
  client.on('message', (_t, _p, packet) => {
    got.push(packet)
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i]
      if (w !== undefined && w.pred(packet)) { waiters.splice(i, 1); w.resolve(packet) }
    }
  })
  const connack = await new Promise<IConnackPacket>((resolve, reject) => {
    client.once('connect', resolve)
    client.once('error', reject)
    void closed.then(() => reject(new Error('closed before CONNACK')))
  })
  return {
    client,
    connack,
    got,
    next: (pred) => {
      const found = got.find(pred)
      if (found !== undefined) return Promise.resolve(found)
      return new Promise((resolve, reject) => {
        waiters.push({ pred, resolve })
        void closed.then(() => reject(new Error('connection closed while waiting for a message')))
      })
    },
    count: async (n) => {
      if (got.length >= n) return
      await new Promise((resolve, reject) => {
        waiters.push({ pred: () => got.length >= n, resolve })
        void closed.then(() => reject(new Error(`closed after ${got.length} of ${n} messages`)))
      })
    },
    disconnected: () => disconnect,
    closed: () => closed,
    end
  }
}

export interface Subscribe5Options { qos: 0 | 1 | 2, nl?: boolean, properties?: { subscriptionIdentifier?: number } }

/** SUBSCRIBE; resolves with the SUBACK's reason codes (granted QoS, or a failure code ≥ 0x80) */
export function subscribe5 (c: V5Client, filter: string | string[], opts: Subscribe5Options = { qos: 1 }): Promise<number[]> {
  return new Promise((resolve, reject) => {
    c.client.subscribe(filter, opts, (err, _granted, packet) => {
      const codes = (packet as { granted?: number[] } | undefined)?.granted ?? (err as Error & { packet?: { granted?: number[] } } | null)?.packet?.granted
      if (codes === undefined) { reject(err ?? new Error('no SUBACK')); return }
      resolve(codes)
    })
  })
}
