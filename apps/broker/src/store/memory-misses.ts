// aedes-persistence's memory store answers a lookup that misses with `new Error('no such packet')`, and every
// QoS 2 message makes such misses: aedes's retransmission check on each new PUBLISH, and the QoS 2 guard's
// removal of a record the message has none of (its consumer groups' copy). Capturing the error's stack cost
// more than the lookup (a clean QoS 2 pairs profile: 5.8 % of the broker's samples in the two methods' own
// code). The store's methods throw before their first await, so their errors are made here without a stack;
// what they mean to their callers (a miss) is unchanged.
import { fn, patch } from '../aedes/patch.js'
import type { AedesStore } from '../aedes/store.js'

const WHY = 'aedes-persistence\'s memory store captures a stack trace for every lookup that misses, which each QoS 2 message makes'

/** `call()` with errors made without a stack trace */
function stackless<T> (call: () => T): T {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return call()
  } finally {
    Error.stackTraceLimit = limit
  }
}

export function stacklessMisses (store: AedesStore): void {
  patch(store, 'incomingGetPacket', fn(3), (get) => (client, packet) => stackless(() => get(client, packet)), WHY, 'persistence')
  patch(store, 'incomingDelPacket', fn(3), (del) => (client, packet) => stackless(() => del(client, packet)), WHY, 'persistence')
}
