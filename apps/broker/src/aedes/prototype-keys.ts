// GHSA-52qw-whmv-87c5 on aedes 2.0.0-beta.1: the maps aedes keys by names read from the wire are plain
// objects again, so a client id, a topic filter or a broker id named like an Object.prototype member
// ('__proto__', 'constructor', 'toString') reads back as present. On beta.1 one CONNECT with the client id
// 'constructor' throws inside aedes (the "existing client" has no disconnect()) and ends the process, and
// a SUBSCRIBE to 'constructor' trips an assertion in mqemitter. Warden takes each map's prototype away
// before aedes first writes to it; the objects stay the same (Warden modules hold broker.clients). The object aedes
// dedupes a SUBSCRIBE's filters in is made per packet, out of reach here: prototype-filters.ts.
import type { Aedes } from 'aedes'
import { brokerInternals, clientInternals } from './internals.js'
import { patch, fn } from './patch.js'

function dropPrototype (map: object): void {
  if (Object.getPrototypeOf(map) !== null) Object.setPrototypeOf(map, null)
}

/** broker.clients and broker.brokers; each client's subscriptions as its CONNECT arrives (before restore) */
export function installNullPrototypeMaps (broker: Aedes): void {
  const b = brokerInternals(broker)
  dropPrototype(b.clients)
  dropPrototype(b.brokers)
  patch(b, 'preConnect', fn(3), (preConnect) => (client, packet, cb) => {
    dropPrototype(clientInternals(client).subscriptions)
    preConnect(client, packet, cb)
  }, 'aedes 2.0.0-beta.1 keys client.subscriptions by topic filters in a plain object (GHSA-52qw-whmv-87c5)', 'broker')
}
