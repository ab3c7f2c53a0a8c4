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

/**
 * `answeredAtCall`: methods whose every answer the store gives already settled (the level store's lookups, from
 * its index): answers handed on in the order of the calls, with nothing to order (each call ordered cost two
 * promises; every QoS 2 message makes two lookups, and parsed in one read, most of them waited behind another)
 */
export function orderPerClient (store: AedesStore, answeredAtCall: ReadonlyArray<typeof ORDERED_METHODS[number]> = []): void {
  for (const method of ORDERED_METHODS) {
    if (answeredAtCall.includes(method)) continue
    patch(store, method, fn(3), (call) => inCallOrder(call as ClientCall) as never,
      'store calls of one client resolve in call order (MQTT 3.1.1 4.6)', 'persistence')
  }
}

/** a call of one client's, waiting for the ones made before it to settle */
interface Waiting {
  done: boolean
  ok: boolean
  value: unknown
  /** the caller's promise; undefined for a call that was first in line, which was given the store's own */
  resolve: ((v: unknown) => void) | undefined
  reject: ((e: unknown) => void) | undefined
}

/**
 * Each call's answer is handed on once every earlier call of its client has been: a call with none before it
 * gets the store's own promise; one behind others gets a promise settled in its turn. Two promises per call at
 * most (the store's answer observed, the caller's promise): this runs on every QoS 2 step and every
 * persistent delivery, and chaining each call's promise on the one before (four promises and a thenable job
 * a call) was a third of the promises a QoS 2 message made.
 */
function inCallOrder<C extends ClientCall> (call: C): C {
  const lines = new Map<string, Waiting[]>()
  const drain = (id: string, line: Waiting[]): void => {
    while (line.length > 0 && (line[0] as Waiting).done) {
      const w = line.shift() as Waiting
      if (w.ok) w.resolve?.(w.value)
      else w.reject?.(w.value)
    }
    if (line.length === 0 && lines.get(id) === line) lines.delete(id)
  }
  return function orderedCall (client: { id: string }, packet: never) {
    const id = client.id
    const result = call(client, packet)
    const w: Waiting = { done: false, ok: true, value: undefined, resolve: undefined, reject: undefined }
    let line = lines.get(id)
    const first = line === undefined
    if (line === undefined) {
      line = [w]
      lines.set(id, line)
    } else line.push(w)
    const own = line
    // observed before the caller sees it (a rejection — "no such packet" is how a new QoS 2 id is found — is
    // handled here, and passed on in its turn): the answers of the calls behind it are handed on after its own
    result.then((v) => { w.done = true; w.value = v; drain(id, own) }, (e: unknown) => { w.done = true; w.ok = false; w.value = e; drain(id, own) })
    if (first) return result
    return new Promise((resolve, reject) => { w.resolve = resolve; w.reject = reject })
  } as C
}
