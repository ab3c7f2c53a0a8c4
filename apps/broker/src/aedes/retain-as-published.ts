// A retained QoS 1/2 message published while an MQTT 5 subscriber with Retain As Published is connected reaches it
// with RETAIN 1 (MQTT-3.3.1-12). aedes 2.0.0-beta.1's delivery (lib/client.js deliverQoS) takes every PUBLISH with
// RETAIN 1 for a retained message sent at subscribe time, which it neither stores nor tracks: for a persistent
// session the store never learns the packet id, so the subscriber's PUBREC closes its connection and its PUBACK
// leaves the message queued, sent again at each return. Such a live delivery (it has a broker id; one sent at
// subscribe time has none) is handed to aedes with RETAIN 0, so that aedes records it as any live delivery, and
// gets RETAIN 1 back as the store records it: the packet aedes then writes is that one, and so is what a QoS 2
// resend is read from (a QoS 1 resend is read from the queued message, which kept RETAIN 1).
import type { Client } from 'aedes'
import { clientInternals, type Deliver } from './internals.js'
import { fn, patch } from './patch.js'
import type { AedesStore } from './store.js'

interface Delivered { retain?: boolean, qos?: number, brokerId?: string | null, brokerCounter?: number }

/** per connection, the identities of the live retained deliveries handed to aedes with RETAIN 0, until written */
const unmarked = new WeakMap<object, Set<string>>()
const identityOf = (p: Delivered): string => `${String(p.brokerId)}:${String(p.brokerCounter)}`

const WHY = 'aedes 2.0.0-beta.1 neither stores nor tracks a live retained QoS 1/2 message kept RETAIN 1 by Retain As Published ' +
  '(MQTT-3.3.1-12): a persistent subscriber\'s PUBREC closes its connection, its PUBACK leaves the message queued'

/** At an MQTT 5 client's CONNECT (v5-packets.ts): before any subscription, live or restored, takes its deliverQoS. */
export function recordRetainedAsPublished (client: Client): void {
  const c = clientInternals(client)
  patch(c, 'deliverQoS', fn(2), (deliver): Deliver => (packet, cb) => {
    const p = packet as Delivered
    // a clean session records nothing; a retained message sent at subscribe time has no broker id
    if (p.retain !== true || (p.qos ?? 0) === 0 || p.brokerId === undefined || p.brokerId === null || c.clean) {
      deliver(packet, cb)
      return
    }
    let ids = unmarked.get(client)
    if (ids === undefined) { ids = new Set(); unmarked.set(client, ids) }
    const id = identityOf(p)
    const own = ids
    own.add(id)
    // aedes calls back once the packet is written, or dropped: its outgoingUpdate came before
    deliver({ ...packet, retain: false }, () => { own.delete(id); cb() })
  }, WHY, 'client')
}

/** Outermost on outgoingUpdate: such a delivery gets its RETAIN 1 back before any store wrapper sees it. */
export function keepRetainOfRecorded (store: AedesStore): void {
  patch(store, 'outgoingUpdate', fn(3), (update) => (client, packet) => {
    if (packet.cmd === 'publish' && packet.retain !== true && unmarked.get(client)?.has(identityOf(packet)) === true) packet.retain = true
    return update(client, packet)
  }, WHY, 'persistence')
}
