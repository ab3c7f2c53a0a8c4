// GHSA-52qw-whmv-87c5 on aedes 2.0.0-beta.1: the maps aedes keys by names read from the wire are plain
// objects again, so a client id, a topic filter or a broker id named like an Object.prototype member
// ('__proto__', 'constructor', 'toString') reads back as present. On beta.1 one CONNECT with the client id
// 'constructor' throws inside aedes (the "existing client" has no disconnect()) and ends the process, and
// a SUBSCRIBE to 'constructor' trips an assertion in mqemitter. Warden swaps each map for one without a
// prototype before aedes first writes to it.
import type { Aedes, Client } from 'aedes'
import { brokerInternals, clientInternals } from './internals.js'
import { patch, fn } from './patch.js'

function withoutPrototype<T> (from: Record<string, T>): Record<string, T> {
  return Object.assign(Object.create(null) as Record<string, T>, from)
}

/** broker.clients and broker.brokers; each client's subscriptions as its CONNECT arrives (before restore) */
export function installNullPrototypeMaps (broker: Aedes): void {
  const b = brokerInternals(broker)
  b.clients = withoutPrototype(b.clients)
  b.brokers = withoutPrototype(b.brokers)
  patch(b, 'preConnect', fn(3), (preConnect) => (client, packet, cb) => {
    const c = clientInternals(client)
    if (Object.getPrototypeOf(c.subscriptions) !== null) c.subscriptions = withoutPrototype(c.subscriptions)
    preConnect(client, packet, cb)
  }, 'aedes 2.0.0-beta.1 keys client.subscriptions by topic filters in a plain object (GHSA-52qw-whmv-87c5)', 'broker')
}

/** true when `client`'s subscription map cannot be confused by a prototype name (for tests and checks) */
export const hasNullPrototypeSubscriptions = (client: Client): boolean => Object.getPrototypeOf(clientInternals(client).subscriptions) === null
