// For tests that hold one of the store calls aedes makes in an in-process broker (a slow store, a slow
// publisher): the store as aedes calls it, gates, and the held read of a resumed session's queue.
import { Readable } from 'node:stream'
import type { Packet } from 'mqtt-packet'
import type { TestBroker } from './broker.js'
import type { Scope } from './scope.js'

/** the store methods these tests hold */
export interface HeldStore {
  outgoingEnqueueCombi (subs: unknown, packet: { payload?: unknown }): Promise<unknown>
  outgoingUpdate (c: unknown, packet: { cmd?: string, payload?: unknown }): Promise<unknown>
  outgoingStream (c: { id: string }): AsyncIterable<Packet>
}

export const storeOfBroker = (tb: TestBroker): HeldStore => (tb.broker.aedes as unknown as { persistence: HeldStore }).persistence

/** what the store still holds for `clientId` (queued messages, PUBRELs) */
export async function storeQueue (tb: TestBroker, clientId: string): Promise<Packet[]> {
  const out: Packet[] = []
  for await (const p of storeOfBroker(tb).outgoingStream({ id: clientId })) out.push(p)
  return out
}

export interface Gate {
  /** resolves once `onHeld` was called (the held call is waiting) */
  readonly held: Promise<void>
  readonly onHeld: () => void
  /** resolves once `release` was called */
  readonly released: Promise<void>
  readonly release: () => void
}

export function gate (): Gate {
  let onHeld!: () => void
  let release!: () => void
  const held = new Promise<void>((resolve) => { onHeld = resolve })
  const released = new Promise<void>((resolve) => { release = resolve })
  return { held, onHeld, released, release }
}

/**
 * The stored queue aedes reads for `clientId`'s connection is what `hold` makes of the store's read (called at once,
 * as aedes asks; `read` reads the store) and of the gate's `released`. Warden's own reads of the session (`{ id }`,
 * no connection) are left as they are. Undone after the test.
 */
export function holdQueueRead (
  scope: Scope, tb: TestBroker, clientId: string,
  hold: (read: () => AsyncIterable<Packet>, released: Promise<void>) => AsyncIterable<Packet>
): { release: () => void } {
  const store = storeOfBroker(tb)
  const read = store.outgoingStream
  const g = gate()
  store.outgoingStream = function heldRead (this: HeldStore, c: { id: string }) {
    if (c.id !== clientId || (c as { conn?: unknown }).conn === undefined) return read.call(this, c)
    return Readable.from(hold(() => read.call(this, c), g.released))
  }
  scope.defer(() => { store.outgoingStream = read; g.release() })
  return { release: g.release }
}
