// Bounds each persistent session's stored queue of QoS 1/2 messages, in messages and in bytes (topic and
// payload), which aedes 1.2 lets grow without limit. Overflow policy: while the client is offline, a message
// that finds its queue full is not queued for it (the newest are dropped, the oldest kept); a connected client
// that lets that much go unacknowledged is disconnected. Usage is read from the store the first time a
// client's queue is touched, then kept up to date in memory until the client next disconnects.
import type { Aedes } from 'aedes'
import { clientsOf } from '../aedes/accessors.js'
import { fn, patch } from '../aedes/patch.js'
import type { AedesStore, QueueSub, StoredPacket } from '../aedes/store.js'

interface Stored { topic?: string | null, payload?: Buffer | string | null }
const WHY = 'aedes 1.2 lets a persistent session\'s stored queue grow without limit'

export interface QueueOverflow {
  readonly clientId: string
  readonly queued: number
  readonly queuedBytes: number
  /** which bound it hit */
  readonly by: 'messages' | 'bytes'
  /** true: the client is connected and was disconnected; false: it is offline and the message was dropped */
  readonly online: boolean
}

export interface Usage { n: number, bytes: number }

export interface QueueBound {
  /** stored messages and bytes per client, for the clients whose usage is known */
  readonly counts: ReadonlyMap<string, Usage>
}

export interface QueueLimits {
  /** messages per session; 0: no bound */
  readonly maxMessages: number
  /** bytes (topic and payload) per session; 0: no bound */
  readonly maxBytes: number
}

/** what a stored packet costs: its topic and payload (a PUBREL, whose topic and payload are null, nothing) */
export function storedBytes (packet: Stored): number {
  const { topic, payload } = packet
  const p = payload === undefined || payload === null ? 0 : typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length
  return p + (typeof topic === 'string' ? Buffer.byteLength(topic) : 0)
}

export function boundQueues (broker: Aedes, p: AedesStore, { maxMessages, maxBytes }: QueueLimits, onOverflow: (o: QueueOverflow) => void): QueueBound {
  const counts = new Map<string, Usage>()
  const counting = new Map<string, Promise<Usage>>()
  /**
   * per client, the bytes of each message sent and not yet acknowledged, by packet id: a QoS 2 message leaves the
   * queue as its PUBREL (the stores keep the PUBREL in its place, and hand that back), which costs nothing, so
   * its bytes stayed counted — a subscriber acknowledging every QoS 2 message was cut off past maxQueuedBytes
   */
  const sent = new Map<string, Map<number, number>>()
  if (maxMessages === 0 && maxBytes === 0) return { counts }
  const clients = clientsOf(broker)

  const countOf = (clientId: string): Usage | Promise<Usage> => {
    const u = counts.get(clientId)
    if (u !== undefined) return u
    let pending = counting.get(clientId)
    if (pending === undefined) {
      pending = (async () => {
        const c = { n: 0, bytes: 0 }
        for await (const packet of p.outgoingStream({ id: clientId })) { c.n++; c.bytes += storedBytes(packet as Stored) }
        counting.delete(clientId)
        counts.set(clientId, c)
        return c
      })()
      counting.set(clientId, pending)
    }
    return pending
  }
  const overBy = (u: Usage, size: number): 'messages' | 'bytes' | null =>
    maxMessages > 0 && u.n >= maxMessages ? 'messages' : maxBytes > 0 && u.bytes + size > maxBytes ? 'bytes' : null

  const counted = (subs: readonly QueueSub[], size: number) => (result: unknown): unknown => {
    for (const sub of subs) {
      const u = counts.get(sub.clientId)
      if (u !== undefined) { u.n++; u.bytes += size }
    }
    return result
  }
  // not an async function: when every queue's count is known and none is full (the message path), the store's
  // answer goes on with one promise more, not three
  patch(p, 'outgoingEnqueueCombi', fn(3), (enqueue) => (subs, packet) => {
    if (subs === undefined || subs === null || subs.length === 0) return enqueue(subs, packet)
    const size = storedBytes(packet as Stored)
    for (const sub of subs) {
      const known = countOf(sub.clientId)
      if ('then' in known || overBy(known, size) !== null) return enqueueBounded(enqueue, subs, packet, size)
    }
    return enqueue(subs, packet).then(counted(subs, size))
  }, WHY, 'persistence')

  async function enqueueBounded (enqueue: AedesStore['outgoingEnqueueCombi'], subs: QueueSub[], packet: StoredPacket, size: number): Promise<unknown> {
    const kept: QueueSub[] = []
    for (const sub of subs) {
      const known = countOf(sub.clientId)
      const u = 'then' in known ? await known : known
      const by = overBy(u, size)
      if (by === null) { kept.push(sub); continue }
      const live = clients[sub.clientId]
      if (live?.connected === true) {
        // it has the message's queue entry: aedes expects to find it when delivering
        kept.push(sub)
        onOverflow({ clientId: sub.clientId, queued: u.n, queuedBytes: u.bytes, by, online: true })
        live.conn.destroy()
      } else {
        onOverflow({ clientId: sub.clientId, queued: u.n, queuedBytes: u.bytes, by, online: false })
      }
    }
    return counted(kept, size)(await enqueue(kept, packet))
  }

  // a QoS 2 message's bytes, noted as it is sent (bytes bound only): the stores hand back its PUBREL when it is
  // completed. A QoS 1 message comes back as itself
  if (maxBytes > 0) {
    patch(p, 'outgoingUpdate', fn(3), (update) => (client, packet) => {
      const id = packet.messageId
      if (packet.cmd === 'publish' && packet.qos === 2 && typeof id === 'number' && clients[client.id] !== undefined) {
        let m = sent.get(client.id)
        if (m === undefined) sent.set(client.id, m = new Map())
        m.set(id, storedBytes(packet as Stored))
      }
      return update(client, packet)
    }, WHY, 'persistence')
  }

  patch(p, 'outgoingClearMessageId', fn(3), (clear) => (client, packet) => clear(client, packet).then((removed) => {
    const m = sent.get(client.id)
    const size = m?.get(packet.messageId ?? 0)
    m?.delete(packet.messageId ?? 0)
    const u = counts.get(client.id)
    if (removed !== undefined && removed !== null && u !== undefined && u.n > 0) {
      u.n--
      // a PUBREL (read back as one, it was counted as nothing): the bytes of the message it was sent as, if known
      const bytes = (removed as { cmd?: string }).cmd === 'pubrel' ? size ?? 0 : storedBytes(removed as Stored)
      u.bytes = Math.max(0, u.bytes - bytes)
    }
    return removed
  }), WHY, 'persistence')

  // a disconnect is a good time to forget: the next enqueue counts afresh from the store
  broker.on('clientDisconnect', (client) => {
    counts.delete(client.id)
    sent.delete(client.id)
  })
  return { counts }
}
