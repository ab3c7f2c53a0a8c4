// Consumer-group test helpers: publish a numbered stream, count what a set of members got, stall a member.
import { once } from 'node:events'
import { createConnection } from 'node:net'
import mqttPacket, { type Packet } from 'mqtt-packet'
import { PASSWORD } from './broker.js'
import { basic } from './http.js'
import type { IClientOptions } from 'mqtt'
import type { BrokerNode } from './cluster.js'
import { publish, type TestClient } from './mqtt.js'
import type { Scope } from './scope.js'

/** Publishes payloads `${prefix}0` … `${prefix}${n - 1}` to `topic`, at most `window` unacknowledged at a time. */
export async function publishStream (pub: TestClient, topic: string, n: number, qos: 0 | 1 | 2, prefix = '', window = 64): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++
      await publish(pub, topic, `${prefix}${i}`, { qos })
    }
  }
  await Promise.all(Array.from({ length: Math.min(window, n) }, worker))
}

/** Resolves once the clients got `n` messages between them (counting those already received). */
export function receivedTogether (clients: readonly TestClient[], n: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const total = (): number => clients.reduce((s, c) => s + c.messages.length, 0)
    const check = (): void => {
      if (total() < n) return
      for (const c of clients) {
        c.client.removeListener('message', onMessage)
        c.client.removeListener('close', onClose)
      }
      resolve()
    }
    // the helper's own listener records the message first (it was attached first)
    const onMessage = (): void => check()
    const onClose = (): void => reject(new Error(`a member disconnected with ${total()} of ${n} messages received`))
    for (const c of clients) {
      c.client.on('message', onMessage)
      c.client.on('close', onClose)
    }
    check()
  })
}

export interface Tally {
  /** payload → times received across the clients */
  readonly counts: Map<string, number>
  readonly duplicates: number
  readonly missing: string[]
}

export function tally (clients: readonly TestClient[], expected: readonly string[]): Tally {
  const counts = new Map<string, number>()
  for (const c of clients) for (const m of c.messages) counts.set(m.payload, (counts.get(m.payload) ?? 0) + 1)
  let duplicates = 0
  for (const n of counts.values()) if (n > 1) duplicates += n - 1
  return { counts, duplicates, missing: expected.filter((p) => !counts.has(p)) }
}

export const payloads = (n: number, prefix = ''): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`)

export interface StalledMember {
  /** PUBLISH packets it received and never acknowledged */
  readonly held: Packet[]
  /** resolves once it holds `n` messages */
  holding (n: number): Promise<void>
  /** cuts the connection without DISCONNECT, as a crash would */
  kill (): Promise<void>
}

/**
 * A member written with mqtt-packet over a raw socket: it subscribes, then receives but never acknowledges
 * (no PUBACK, no PUBREC), so everything it is given stays unacknowledged broker-side. MQTT.js cannot do
 * this over MQTT 3.1.1: it acknowledges on its own.
 */
export async function connectStalled (port: number, username: string, clientId: string, filter: string, qos: 0 | 1 | 2, clean = true): Promise<StalledMember> {
  const socket = createConnection({ port, host: '127.0.0.1' })
  const parser = mqttPacket.parser({ protocolVersion: 4 })
  socket.on('data', (d: Buffer) => parser.parse(d))
  const held: Packet[] = []
  const waiters: Array<{ n: number, resolve: () => void }> = []
  const closed = once(socket, 'close')
  await new Promise<void>((resolve, reject) => {
    parser.on('packet', (p: Packet) => {
      if (p.cmd === 'connack') {
        if (p.returnCode !== 0) { reject(new Error(`CONNACK ${String(p.returnCode)}`)); return }
        socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos }] }))
      } else if (p.cmd === 'suback') {
        if (p.granted[0] === 128) reject(new Error(`SUBACK refused ${filter}`)); else resolve()
      } else if (p.cmd === 'publish') {
        held.push(p)
        for (let i = waiters.length - 1; i >= 0; i--) {
          const w = waiters[i]
          if (w !== undefined && held.length >= w.n) { waiters.splice(i, 1); w.resolve() }
        }
      }
    })
    socket.once('error', reject)
    socket.write(mqttPacket.generate({
      cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean, clientId, keepalive: 0, username, password: Buffer.from(PASSWORD)
    }))
  })
  return {
    held,
    holding: (n) => held.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve })),
    async kill () {
      socket.destroy()
      await closed
    }
  }
}

/** a group member as `/api/v1/groups` lists it */
export interface ListedMember { clientId: string, connected: boolean, broker: string | null }

/** the members of `group` as the broker process at `http` lists them (none if it lists no such group) */
export async function groupMembers (http: string, group: string): Promise<ListedMember[]> {
  const res = await fetch(`${http}/api/v1/groups`, { headers: { authorization: basic('observer') } })
  const body = await res.json() as { groups: Array<{ group: string, members: ListedMember[] }> }
  return body.groups.find((g) => g.group === group)?.members ?? []
}

/**
 * A cluster test's processes and clients: `node` starts one under a broker id of its own; `client` connects to one, a
 * client id starting with "pub" as sensor-1 (it publishes under sensors/sensor-1/), any other as dashboard (it reads)
 */
export function groupNodes (cluster: { startNode (env?: Record<string, string>): Promise<BrokerNode> }, scope: Scope): {
  node (id: string): Promise<BrokerNode>
  client (n: BrokerNode, clientId: string, opts?: IClientOptions): Promise<TestClient>
} {
  return {
    node: async (id) => await cluster.startNode({ WARDEN_BROKER_ID: id }),
    client: async (n, clientId, opts = {}) => await scope.client(clientId.startsWith('pub') ? 'sensor-1' : 'dashboard', { clientId, ...opts }, n)
  }
}
