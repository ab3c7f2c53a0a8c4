// aedes reads a resuming client's stored subscriptions while it handles the CONNECT, with
// persistence.subscriptionsByClient({ id }) (lib/handlers/connect.js, fetchSubs), and restores them through
// the SUBSCRIBE handler. Warden's own reads of a session make the same call: a patch that must change only
// what aedes restores tells the two apart here, from the client authenticated to resume until that fetch.
import type { Aedes, Client, Subscription } from 'aedes'
import { clientOfConn, resumesSession } from './accessors.js'
import { onConnectionClose, watchClose } from './close-hooks.js'
import { brokerInternals } from './internals.js'
import { fn, patch } from './patch.js'
import type { AedesStore, Session } from './store.js'

/** what aedes fetched to restore `session` for `client`, its connection → what it restores (a promise: aedes's CONNECT waits for it) */
export type RestoreMap = (subs: Subscription[], session: Session, client: Client) => Subscription[] | Promise<Subscription[]>

/** per broker: the maps, in the order given, and the store they were installed on */
const trackers = new WeakMap<Aedes, { store: AedesStore, maps: RestoreMap[] }>()

/**
 * `map` is given what aedes fetches to restore a session, and what it returns is what aedes restores. Maps
 * given for one broker run in the order given, each on what the one before returned; the resuming clients are
 * tracked once per broker, however many maps there are (one authenticate wrapper, one close watch).
 */
export function mapRestoredSubscriptions (broker: Aedes, store: AedesStore, map: RestoreMap, why: string): void {
  const tracker = trackers.get(broker)
  if (tracker !== undefined) {
    if (tracker.store !== store) throw new Error('mapRestoredSubscriptions: one store per broker')
    tracker.maps.push(map)
    return
  }
  const maps = [map]
  trackers.set(broker, { store, maps })
  /** clients resuming a session, between authenticate and aedes's fetch of their subscriptions, by client id */
  const resuming = new Map<string, Client>()
  // a close hook (close-hooks.ts), not a listener made in authenticate's callback, which would keep every
  // caller's callback; only the connection that is resuming forgets (not an older one of the same id closing)
  onConnectionClose(broker, (conn) => {
    const client = clientOfConn(conn) as Client | undefined
    if (client !== undefined && resuming.get(client.id) === client) resuming.delete(client.id)
  })
  patch(brokerInternals(broker), 'authenticate', fn(4), (authenticate) => (client, username, password, cb) => {
    authenticate(client, username, password, (err, ok) => {
      if (err === null && ok === true && resumesSession(client)) {
        resuming.set(client.id, client)
        watchClose(broker, client.conn)
      }
      cb(err, ok)
    })
  }, why, 'broker')
  patch(store, 'subscriptionsByClient', fn(2), (fetch) => async (client) => {
    let subs = await fetch(client)
    const connection = resuming.get(client.id)
    if (connection === undefined) return subs
    resuming.delete(client.id)
    for (const m of maps) subs = await m(subs, client, connection)
    return subs
  }, why, 'persistence')
}
