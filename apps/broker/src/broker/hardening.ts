// Wires the hardening pieces into a created broker: limits on its events and store, the queue bound, and
// what every listener does with a new connection.
import type { Aedes, Client } from 'aedes'
import type { Logger } from '@warden/common'
import { clientsOf } from '../aedes/accessors.js'
import type { AedesStore } from '../aedes/store.js'
import type { ListenerDeps } from '../net/listeners.js'
import type { Limits } from '../limits/limits.js'
import { normalizeAddress } from '../net/address.js'
import { reapGhosts } from '../sessions/ghost-reaper.js'
import { boundQueues, type QueueBound } from '../limits/queue-bound.js'
import { onConnectionClose, watchClose } from '../aedes/close-hooks.js'
import { isProtocolError } from '../limits/protocol-errors.js'

export function attachHardening (
  broker: Aedes, persistence: AedesStore, limits: Limits, queue: { maxQueuedMessages: number, maxQueuedBytes: number }
): QueueBound {
  limits.watch((event, listener) => broker.on(event, listener))
  onConnectionClose(broker, limits.connectionClosed)
  const clients = clientsOf(broker)
  reapGhosts(broker, (client) => limits.audit('connection', 'closed-during-connect', client, {
    detail: 'socket closed before its CONNECT was complete: removed from the connected clients'
  }))
  // aedes's own bound (maxOutgoingBytes: 0 leaves it the only one): a subscriber that did not drain its
  // socket within drainTimeout is cut off
  const drained = new WeakSet<Client>()
  // a packet aedes's handlers refuse closes its connection (mqtt-packet's own refusals: connection-guard.ts)
  const malformed = (client: Client | undefined, err: Error): void => {
    if (isProtocolError(err)) limits.audit('connection', 'malformed-packet', client, { detail: err.message })
  }
  broker.on('connectionError', malformed)
  broker.on('clientError', (client, err) => {
    malformed(client, err)
    // aedes reports the timeout once per write that was waiting: one record per client
    if (err.message !== 'drain timeout' || drained.has(client)) return
    drained.add(client)
    limits.audit('delivery', 'slow-consumer', client, { detail: 'socket not drained within limits.drainTimeoutMs: disconnected' })
  })
  return boundQueues(broker, persistence, { maxMessages: queue.maxQueuedMessages, maxBytes: queue.maxQueuedBytes }, (o) => {
    const what = o.by === 'messages'
      ? `${o.queued} messages`
      : `${o.queuedBytes} bytes`
    const limit = o.by === 'messages' ? `limit ${queue.maxQueuedMessages}` : `limits.maxQueuedBytes ${queue.maxQueuedBytes}`
    const detail = o.online
      ? `${what} unacknowledged (${limit}): disconnected`
      : `${what} queued for the offline session (${limit}): newest dropped`
    limits.audit('delivery', o.online ? 'slow-consumer' : 'queue-full', clients[o.clientId], { clientId: o.clientId, detail })
  })
}

export function listenerDeps (broker: Aedes, limits: Limits, logger: Logger, flow?: { watch (client: Client): void }): ListenerDeps {
  return {
    admit: (socket) => limits.admit(socket),
    released: () => { limits.released() },
    closing: { add: (hook) => { onConnectionClose(broker, hook) }, watch: (conn) => { watchClose(broker, conn) } },
    handle: (stream, req) => {
      const client = broker.handle(stream, req)
      limits.guard(client)
      flow?.watch(client)
    },
    onTlsRefused: (socket, transport, reason, detail) => {
      limits.audit('connection', reason, undefined, { address: normalizeAddress(socket.remoteAddress), detail: `${transport}: ${detail}` })
    },
    logger
  }
}
