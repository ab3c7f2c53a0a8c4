// Bounds each persistent session's stored queue of QoS 1/2 messages, which aedes 1.2 lets grow without
// limit. Overflow policy: while the client is offline, a message that finds its queue full is not queued for
// it (the newest are dropped, the oldest kept); a connected client that lets that many go unacknowledged
// is disconnected. Counts are taken from the store the first time a client's queue is touched, then kept
// up to date in memory until the client next disconnects.
import type { Aedes, Client } from 'aedes'

interface Sub { clientId: string }
interface Persistence {
  outgoingEnqueueCombi (subs: Sub[], packet: unknown): Promise<unknown>
  outgoingClearMessageId (client: { id: string }, packet: unknown): Promise<unknown>
  outgoingStream (client: { id: string }): AsyncIterable<unknown>
}

export interface QueueOverflow {
  readonly clientId: string
  readonly queued: number
  /** true: the client is connected and was disconnected; false: it is offline and the message was dropped */
  readonly online: boolean
}

export interface QueueBound {
  /** stored messages per client, for the clients whose count is known */
  readonly counts: ReadonlyMap<string, number>
}

export function boundQueues (broker: Aedes, persistence: unknown, max: number, onOverflow: (o: QueueOverflow) => void): QueueBound {
  const p = persistence as Persistence
  const counts = new Map<string, number>()
  const counting = new Map<string, Promise<number>>()
  if (max === 0) return { counts }
  const clients = (broker as unknown as { clients: Record<string, Client & { connected: boolean } | undefined> }).clients

  const countOf = (clientId: string): number | Promise<number> => {
    const n = counts.get(clientId)
    if (n !== undefined) return n
    let pending = counting.get(clientId)
    if (pending === undefined) {
      pending = (async () => {
        let c = 0
        for await (const _ of p.outgoingStream({ id: clientId })) c++
        counting.delete(clientId)
        counts.set(clientId, c)
        return c
      })()
      counting.set(clientId, pending)
    }
    return pending
  }

  const enqueue = p.outgoingEnqueueCombi.bind(p)
  p.outgoingEnqueueCombi = async (subs, packet) => {
    if (subs === undefined || subs === null || subs.length === 0) return await enqueue(subs, packet)
    const kept: Sub[] = []
    for (const sub of subs) {
      const known = countOf(sub.clientId)
      const n = typeof known === 'number' ? known : await known
      if (n < max) { kept.push(sub); continue }
      const live = clients[sub.clientId]
      if (live?.connected === true) {
        // it has the message's queue entry: aedes expects to find it when delivering
        kept.push(sub)
        onOverflow({ clientId: sub.clientId, queued: n, online: true })
        live.conn.destroy()
      } else {
        onOverflow({ clientId: sub.clientId, queued: n, online: false })
      }
    }
    const result = await enqueue(kept, packet)
    for (const sub of kept) {
      const n = counts.get(sub.clientId)
      if (n !== undefined) counts.set(sub.clientId, n + 1)
    }
    return result
  }

  const clear = p.outgoingClearMessageId.bind(p)
  p.outgoingClearMessageId = async (client, packet) => {
    const removed = await clear(client, packet)
    const n = counts.get(client.id)
    if (removed !== undefined && removed !== null && n !== undefined && n > 0) counts.set(client.id, n - 1)
    return removed
  }

  // a disconnect is a good time to forget: the next enqueue counts afresh from the store
  broker.on('clientDisconnect', (client) => counts.delete(client.id))
  return { counts }
}
