// aedes 2.0.0-beta.1 refuses every `$share/` filter of an MQTT 5 client with SUBACK 0x9E before it asks
// authorizeSubscribe (lib/handlers/subscribe.js, doSubscribe; the restore of a stored session too), and every
// CONNACK says Shared Subscription Available 0. Warden has consumer groups of its own (groups/), for MQTT 3.1.1
// and 5 alike, so it lets aedes see such a filter only once authorizeSubscribe has it: a `$share/` filter is
// disguised on its way in (the parsed SUBSCRIBE, the session fetched at CONNECT) and given back its name as
// the outermost authorizeSubscribe is called, before any hook stage; every later step (store, SUBACK,
// 'subscribe' event) sees `$share/…`. One step comes earlier: aedes stores the whole packet's filters as it
// stores each one (storeSubscriptions), so a filter not authorized yet reaches the store: it is stored under
// its real name.
import type { Aedes, Client, Subscription } from 'aedes'
import mqttPacket from 'mqtt-packet'
import { brokerInternals } from './internals.js'
import { fn, patch } from './patch.js'
import { rewriteWrites } from './packet-writes.js'
import { mapRestoredSubscriptions } from './session-fetch.js'
import type { AedesStore, Session } from './store.js'
import { disconnectWith, isMqtt5 } from './v5-answers.js'
import { SHARE_PREFIX } from '../policy/share-filter.js'

/** MQTT 5 reason code 0x82, Protocol Error (hooks/reason-codes.ts has the table; the adapter does not import hooks) */
const PROTOCOL_ERROR = 0x82

const WHY = 'aedes 2.0.0-beta.1 refuses $share/ of MQTT 5 clients with SUBACK 0x9E before authorizeSubscribe'
/** what aedes sees instead of `$share`: the same levels, a name no prefix check of aedes's matches */
const DISGUISE = '$SHARE\u0000'

/** sub object → its real filter, until authorizeSubscribe gives it back */
const disguised = new WeakMap<object, string>()
/**
 * a SUBSCRIBE's filters as aedes stores them → as they reach the store: the same array at each of the packet's
 * store calls (store/subscribe-once.ts makes them one write by the array's identity)
 */
const storedAs = new WeakMap<readonly Subscription[], readonly Subscription[]>()

/** `subs` with the filters still disguised under their real names (copies: aedes's own are still to be authorized) */
function storedNames (subs: readonly Subscription[]): readonly Subscription[] {
  let out = storedAs.get(subs)
  if (out !== undefined) return out
  if (!subs.some((s) => disguised.has(s))) return subs
  out = subs.map((s) => {
    const real = disguised.get(s)
    return real === undefined ? s : { ...s, topic: real }
  })
  storedAs.set(subs, out)
  return out
}

function disguise<T extends { topic: string }> (sub: T): T {
  if (!sub.topic.startsWith(SHARE_PREFIX)) return sub
  disguised.set(sub, sub.topic)
  sub.topic = DISGUISE + sub.topic.slice(SHARE_PREFIX.length - 1)
  return sub
}

/**
 * An MQTT 5 client's packet, before aedes handles it (v5-packets.ts): a SUBSCRIBE's `$share/` filters are
 * disguised. aedes refuses them of MQTT 5 clients only: a 3.1.1 client's reach authorizeSubscribe as they are.
 */
export function disguiseShareFilters (_client: Client, packet: mqttPacket.Packet): void {
  if (packet.cmd === 'subscribe') for (const s of packet.subscriptions) disguise(s)
}

/**
 * Once aedes exists: the session fetched at CONNECT (its stored `$share/` filters are restored through the
 * same check), the outermost authorizeSubscribe that gives the filter its name back, and No Local on a shared
 * subscription answered as MQTT-3.8.3-4 says: DISCONNECT 0x82.
 */
export function acceptShareFilters (broker: Aedes, store: AedesStore): void {
  const b = brokerInternals(broker)
  // copies: the memory store hands out its own objects
  mapRestoredSubscriptions(broker, store, (subs) => subs.map((s) => s.topic.startsWith(SHARE_PREFIX) ? disguise({ ...s }) : s), WHY)
  patch(store, 'addSubscriptions', fn(3), (add) => (client, subs) => add(client, storedNames(subs)),
    'aedes 2.0.0-beta.1 stores a SUBSCRIBE\'s filters as it stores the first one authorized: a $share/ filter is still disguised', 'persistence')
  patch(b, 'authorizeSubscribe', fn(3), (authorizeSubscribe) => (client, sub, cb) => {
    const real = disguised.get(sub)
    if (real === undefined) { authorizeSubscribe(client, sub, cb); return }
    disguised.delete(sub)
    ;(sub as Subscription & { topic: string }).topic = real
    if ((sub as Subscription & { nl?: boolean }).nl === true && isMqtt5(client)) {
      // MQTT-3.8.3-4: a protocol error, not a refusal
      void disconnectWith(client, PROTOCOL_ERROR).then(() => cb(null, null))
      return
    }
    authorizeSubscribe(client, sub, cb)
  }, WHY, 'broker')
}

/**
 * Once aedes exists, before the session-present patch (broker/patches.ts), which must see the session without
 * them. Until the store was given real names only (acceptShareFilters), a persistent MQTT 5 session could hold the
 * disguised name `$SHARE\u0000/…` beside its filters: a `$share/` filter not authorized yet as another filter of its
 * SUBSCRIBE was stored. No client can send U+0000 (the packet guard refuses it): such an entry is never a client's
 * filter. A resumed session is restored without them, and they are removed from the store. (Restored, each was
 * refused as not granted, at every resume, or, listed after the real filter it disguised, taken by aedes's dedupe
 * in its place: the member was not back in its group.)
 */
export function forgetLeakedShareNames (broker: Aedes, store: AedesStore): void {
  mapRestoredSubscriptions(broker, store, async (subs, session) => {
    const leaked = subs.filter((s) => s.topic.startsWith(DISGUISE))
    if (leaked.length === 0) return subs
    await removeLeaked(store, session, leaked.map((s) => s.topic))
    return subs.filter((s) => !s.topic.startsWith(DISGUISE))
  }, 'Warden stored the disguised name of a $share/ filter beside the real ones of its SUBSCRIBE')
}

async function removeLeaked (store: AedesStore, session: Session, topics: string[]): Promise<void> {
  try {
    await store.removeSubscriptions(session, topics)
  } catch {
    // left out of the restore all the same: the removal is tried again at the next resume
  }
}

/**
 * aedes builds the CONNACK's properties in a function of its own (lib/handlers/connect.js,
 * connackProperties) with Shared Subscription Available 0, and offers no way to change them: Warden sets it
 * as the packet is written (packet-writes.ts: the one place every CONNACK goes through). Once per process:
 * every broker of it has consumer groups.
 */
export function advertiseSharedSubscriptions (): void {
  rewriteWrites('connack', (packet, stream, opts, write) => {
    const props = (packet as mqttPacket.IConnackPacket).properties
    if (props?.sharedSubscriptionAvailable === false) props.sharedSubscriptionAvailable = true
    return write(packet, stream, opts)
  })
}
