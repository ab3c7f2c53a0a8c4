// GHSA-p8r9-qf8w-p73r on aedes 2.0.0-beta.1: the inbound QoS 2 table (message ids stored awaiting PUBREL) is
// session state, but beta.1 never asks the store to clear it: not when a client connects with a clean
// session (Clean Start), not when a session that ends with its connection closes. A later session of the
// same id then has its fresh QoS 2 PUBLISH taken for a retransmission — answered PUBREC and never
// delivered — and clients cycling ids grow the table forever. Warden clears it itself, at the points aedes
// 1.2.0 did: once the new client is registered (after any takeover), and when a clean client goes away.
// Until the clear is done, the new client's own QoS 2 lookups wait for it.
import type { Aedes, Client } from 'aedes'
import type { AedesStore } from './store.js'
import { brokerInternals, clientInternals } from './internals.js'
import { fn, patch } from './patch.js'

const WHY = 'aedes 2.0.0-beta.1 never calls persistence.cleanIncoming (GHSA-p8r9-qf8w-p73r)'

export function cleanIncomingOnCleanSessions (broker: Aedes, store: AedesStore): void {
  const clean = store.cleanIncoming?.bind(store)
  if (clean === undefined) return // a store without an incoming table has nothing to clear
  /** a client with a clean CONNECT, until its table is cleared: resolves when it is */
  const pending = new WeakMap<object, { done: Promise<void>, resolve: () => void }>()
  const onError = (err: unknown): void => { broker.emit('error', err as Error) }

  patch(brokerInternals(broker), 'preConnect', fn(3), (preConnect) => (client, packet, cb) => {
    // Clean Start (v5) and Clean Session (3.1.1) are the same CONNECT flag
    if (packet.clean === true) {
      let resolve!: () => void
      const done = new Promise<void>((r) => { resolve = r })
      pending.set(client, { done, resolve })
    }
    preConnect(client, packet, cb)
  }, WHY, 'broker')

  broker.on('client', (client: Client) => {
    const p = pending.get(client)
    if (p === undefined) return
    clean(client).catch(onError).finally(() => { pending.delete(client); p.resolve() })
  })
  broker.on('clientDisconnect', (client: Client) => {
    pending.get(client)?.resolve() // never registered: nothing of its own to wait for
    // a session that ends with its connection (3.1.1 clean session; v5 Session Expiry 0)
    if (clientInternals(client).clean && brokerInternals(broker).clients[client.id] === undefined) clean(client).catch(onError)
  })

  // a call with no clear to wait for goes straight through (every QoS 2 PUBLISH makes both: no promise more)
  patch(store, 'incomingGetPacket', fn(3), (get) => (session, packet) => {
    const p = pending.get(session)
    return p === undefined ? get(session, packet) : p.done.then(async () => await get(session, packet))
  }, WHY, 'persistence')
  patch(store, 'incomingStorePacket', fn(3), (put) => (session, packet) => {
    const p = pending.get(session)
    return p === undefined ? put(session, packet) : p.done.then(async () => { await put(session, packet) })
  }, WHY, 'persistence')
}
