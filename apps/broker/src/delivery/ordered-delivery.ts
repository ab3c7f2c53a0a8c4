// Keeps each client's messages in order while the store works on them concurrently.
//
// aedes awaits the store at several steps of a QoS>0 message's way: a persistent subscriber's message is
// written only after its packet id is recorded (outgoingUpdate), and an incoming QoS 2 message is published
// only after the store has been checked (incomingGetPacket) and written (incomingStorePacket). With a store
// that completes writes out of order (LevelDB works in a thread pool), two messages of one client could
// overtake each other at any of these steps, breaking MQTT 3.1.1's ordered topics (4.6). Resolving each
// client's calls in the order they were made keeps the order and keeps the store's concurrency.

import { fn, patch } from '../aedes/patch.js'
import type { AedesStore } from '../aedes/store.js'

type ClientCall = (client: { id: string }, packet: never) => Promise<unknown>

const ORDERED_METHODS = ['outgoingUpdate', 'incomingGetPacket', 'incomingStorePacket'] as const

export function orderPerClient (store: AedesStore): void {
  for (const method of ORDERED_METHODS) {
    patch(store, method, fn(3), (call) => inCallOrder(call as ClientCall) as never,
      'store calls of one client resolve in call order (MQTT 3.1.1 4.6)', 'persistence')
  }
}

function inCallOrder<C extends ClientCall> (call: C): C {
  const tails = new Map<string, Promise<unknown>>()
  return function orderedCall (client: { id: string }, packet: never) {
    const id = client.id
    const result = call(client, packet)
    const previous = tails.get(id)
    let ordered = result
    if (previous !== undefined) {
      // a rejection ("no such packet" is how a new QoS 2 id is found) is passed on in its turn, not unhandled now
      result.catch(noop)
      ordered = previous.then(() => result, () => result)
    }
    // settled (either way): the client's last call so far, unless a later one took its place
    const settled = (): void => { if (tails.get(id) === tail) tails.delete(id) }
    const tail: Promise<unknown> = ordered.then(settled, settled)
    tails.set(id, tail)
    return ordered
  } as C
}

function noop (): void {}
