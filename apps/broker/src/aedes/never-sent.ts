// Messages a connection was given a packet id for (aedes records the id in the store before it writes) and
// never sent: held back by the outbound window (outbound-window.ts) when the connection closed. Read back from
// the queue when the session resumes, they are a first delivery, DUP 0 (delivery/resend-dup.ts), where every
// other PUBLISH read back with a packet id may have been sent. Kept per store, in this process only: a store
// shared by several processes (Redis) does not track them, as another process may have sent one since.
import type { AedesStore, StoredPacket } from './store.js'

/** client ids whose marks are kept at most: past it the oldest go, and their messages come back with DUP 1 */
const MAX_CLIENTS = 10_000

const byStore = new WeakMap<object, Map<string, Set<string>>>()

const markOf = (p: StoredPacket): string => `${String(p.brokerId)}:${String(p.brokerCounter)}:${String(p.messageId)}`

/** this store keeps the marks (a store of this process alone) */
export function trackNeverSent (store: AedesStore): void {
  if (!byStore.has(store)) byStore.set(store, new Map())
}

/** `packets` were given their ids on a connection of `clientId` that closed before sending them */
export function markNeverSent (store: AedesStore, clientId: string, packets: readonly StoredPacket[]): void {
  const clients = byStore.get(store)
  if (clients === undefined || packets.length === 0) return
  const marks = clients.get(clientId) ?? new Set<string>()
  for (const p of packets) if (p.brokerId !== undefined && p.messageId !== undefined) marks.add(markOf(p))
  clients.delete(clientId)
  clients.set(clientId, marks)
  for (const oldest of clients.keys()) { if (clients.size <= MAX_CLIENTS) break; clients.delete(oldest) }
}

/**
 * whether a packet read from `clientId`'s queue was never sent; `taken`: a connection of the client reads its
 * queue, so that the marks go (what it is sent from now on may be held again, and is marked again then)
 */
export function neverSentOf (store: AedesStore, clientId: string, taken: boolean): (p: StoredPacket) => boolean {
  const clients = byStore.get(store)
  const marks = clients?.get(clientId)
  if (marks === undefined) return () => false
  if (taken) clients?.delete(clientId)
  return (p) => marks.has(markOf(p))
}
