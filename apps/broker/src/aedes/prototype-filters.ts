// GHSA-52qw-whmv-87c5, the part prototype-keys.ts cannot reach: aedes 2.0.0-beta.1 drops a SUBSCRIBE's
// repeated filters through a plain object made per packet (lib/handlers/subscribe.js, _dedupe; 1.2.0 uses a
// Map), for every packet of more than one filter and for every restored session of more than one. A filter
// '__proto__' there sets that object's prototype instead of a key: the filter is lost, and the fields of its
// subscription (topic, qos...) come out as filters of their own. A 3.1.1 client is disconnected; an MQTT 5
// client's SUBSCRIBE throws in doSubscribe and ends the process. ('constructor', 'toString' and the other
// names are data properties of Object.prototype: assigning them makes keys of their own, as it should.)
// Warden hides the name from that one step: '__proto__' is disguised, in the parsed SUBSCRIBE and in the
// session aedes restores, and given back to every disguised filter of the packet at the first
// authorizeSubscribe aedes calls for any of its filters, before any hook stage and before any store call.
import type { Aedes, Client, Subscription } from 'aedes'
import { parserOf } from './accessors.js'
import { brokerInternals, type MqttParser } from './internals.js'
import { fn, patch, patchEach } from './patch.js'
import { mapRestoredSubscriptions } from './session-fetch.js'
import type { AedesStore } from './store.js'

const WHY = 'aedes 2.0.0-beta.1 dedupes a SUBSCRIBE\'s filters in a plain object: \'__proto__\' and another filter ' +
  'disconnect a 3.1.1 client and end the process on an MQTT 5 one (GHSA-52qw-whmv-87c5)'
const NAME = '__proto__'
/** what aedes's dedupe sees instead: one level, no wildcard, and U+0000, which no client can send (MQTT-1.5.4-2) */
const DISGUISE = '\u0000__proto__'

interface Filter { topic: string }
/** the disguised filters of one packet (or restored session), until the first of its filters is authorized */
interface Group { readonly members: readonly Filter[], readonly hidden: readonly Filter[] }
/** each filter of a packet holding a disguised one → its packet's group */
const groups = new WeakMap<object, Group>()

function disguise (subs: readonly Filter[]): void {
  if (subs.length < 2) return // aedes dedupes a packet of two filters or more only
  const hidden = subs.filter((s) => s.topic === NAME)
  if (hidden.length === 0) return
  const group = { members: subs, hidden }
  for (const s of hidden) s.topic = DISGUISE
  for (const s of subs) groups.set(s, group)
}

function giveBack (sub: object): void {
  const group = groups.get(sub)
  if (group === undefined) return
  for (const s of group.members) groups.delete(s)
  for (const s of group.hidden) s.topic = NAME
}

/**
 * Once per broker: the installer of the wrapper on each client's parser, 3.1.1 and MQTT 5 alike. mqtt-packet
 * parses a SUBSCRIBE's payload in a method of its own: the filters are disguised as they are parsed, before
 * the packet is emitted to aedes, and no other packet pays for it (no listener on the parser).
 */
export function disguisePrototypeFilters (): (client: Client) => void {
  const install = patchEach<MqttParser, '_parseSubscribe'>('_parseSubscribe', fn(0), (parseSubscribe) => function (this: MqttParser): unknown {
    const out = parseSubscribe.call(this)
    const subs = (this.packet as { subscriptions?: Filter[] }).subscriptions
    if (subs !== undefined) disguise(subs)
    return out
  }, WHY, 'parser')
  return (client) => { install(parserOf(client)) }
}

/** Once aedes exists: the session it restores, and the outermost authorizeSubscribe that gives the name back. */
export function acceptPrototypeFilters (broker: Aedes, store: AedesStore): void {
  mapRestoredSubscriptions(broker, store, (subs) => {
    if (!subs.some((s) => s.topic === NAME)) return subs
    // copies: the memory store hands out its own objects (only those: shared-subscribe.ts knows its own by identity)
    const copies = subs.map((s) => s.topic === NAME ? { ...s } : s)
    disguise(copies)
    return copies
  }, WHY)
  patch(brokerInternals(broker), 'authorizeSubscribe', fn(3), (authorizeSubscribe) => (client, sub: Subscription, cb) => {
    giveBack(sub)
    authorizeSubscribe(client, sub, cb)
  }, WHY, 'broker')
}
