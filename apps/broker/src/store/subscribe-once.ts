// Stores a SUBSCRIBE's filters once, however many filters it has.
//
// aedes 1.2 (lib/handlers/subscribe.js, storeSubscriptions) calls persistence.addSubscriptions once per filter
// of a SUBSCRIBE, each time with all of the packet's filters. A store built on aedes-persistence's
// BroadcastPersistence (aedes-persistence-redis 12) announces each call on the bus and waits for its own
// announcement to come back, keyed by client id and first filter: the second call replaces the first's waiter,
// so with a bus that answers later than in the same turn (mqemitter-redis) the first call never completes and
// the client never gets its SUBACK. The calls of one SUBSCRIBE pass the same array, so they share one store call.

import { fn, patch } from '../aedes/patch.js'
import type { AedesStore } from '../aedes/store.js'

export function storeSubscribeOnce (store: AedesStore): void {
  const inFlight = new WeakMap<readonly unknown[], Promise<unknown>>()
  patch(store, 'addSubscriptions', fn(3), (add) => (client, subs) => {
    let p = inFlight.get(subs)
    if (p === undefined) {
      p = add(client, subs)
      inFlight.set(subs, p)
      const done = (): void => { inFlight.delete(subs) }
      p.then(done, done)
    }
    return p
  }, 'aedes calls addSubscriptions once per filter with the whole array; the redis store then never answers the first call', 'persistence')
}
