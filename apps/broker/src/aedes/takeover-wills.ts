// The will stored for a client id is its newest connection's, whatever becomes of an older connection's will.
//
// aedes 2.0.0-beta.1 stores a will under the client id (level, memory; Redis: the broker id and the client id)
// and removes it by that id once a connection's will is published, dropped with its DISCONNECT, or its session
// wiped (publishWill, lib/client.js close, _wipeSession). In a takeover the new connection stores its will
// before the old one closes, so the old one's close removed the new one's: after a crash the restarted process
// (or another one of a cluster) had nothing to publish. A removal for this process is let through only when no
// open connection of this process holds the stored will; the new connection's own removal before it stores
// its will (aedes's storeWill) always is.
//
// MQTT 5, the old connection's delayed will: a takeover that resumes the session cancels it (MQTT-3.1.3-9), and
// it leaves the store too — one taken over from another process stays under this process's id, and another
// process published it once this one had died. A takeover whose CONNECT has Clean Start 1 ends the session, and
// a will is delayed "until the Will Delay Interval has passed or the Session ends" (3.1.3.2.2): it is published
// at once, as when a client that dropped comes back with Clean Start 1 within the delay. aedes cancels it in all.
import type { Aedes, Client, PublishPacket } from 'aedes'
import { resumesSession } from './accessors.js'
import { brokerInternals } from './internals.js'
import { fn, patch } from './patch.js'
import { isConnection, type AedesStore } from './store.js'

const WHY = 'beta.1 removes a stored will by client id when an older connection\'s will is published or dropped: a takeover\'s ' +
  'new connection then has none stored, lost in a crash'
const WHY_DELAYED = 'beta.1 cancels a delayed will at a takeover even when the new CONNECT (Clean Start 1) ends the session ' +
  '(3.1.3.2.2), and leaves a cancelled one stored'

export interface TakeoverWillOptions {
  /** the store keys wills by client id alone (level, memory): a dead process's will is the one a connection here replaced */
  keyedByClientId: boolean
  /** taken over from another process; `endsSession`: by a CONNECT with Clean Start 1 */
  takenOver (client: Client): { endsSession: boolean } | undefined
}

export function keepNewestWill (broker: Aedes, store: AedesStore, { keyedByClientId, takenOver }: TakeoverWillOptions): void {
  const b = brokerInternals(broker)
  /** by client id: the connection of this process whose will was stored last */
  const holders = new Map<string, Client>()
  /** by client id: a CONNECT registering (taking the id over) */
  const registering = new Map<string, Client>()
  /** by client id: a closed connection's will waiting out its Will Delay Interval here */
  const delayed = new Map<string, { client: Client, will: PublishPacket }>()

  patch(store, 'putWill', fn(3), (put) => async (client, packet) => {
    if (isConnection(client)) holders.set(client.id, client as Client)
    return await put(client, packet)
  }, WHY, 'persistence')
  patch(store, 'delWill', fn(2), (del) => async (client) => {
    const holder = holders.get(client.id)
    if (isConnection(client)) {
      // a CONNECT's storeWill: its will replaces whichever is stored
      if (holder !== client) holders.delete(client.id)
      return await del(client)
    }
    const open = holder !== undefined && !holder.closed
    const mine = client.brokerId === undefined || client.brokerId === b.id
    if (open && (mine || keyedByClientId)) return undefined
    if (holder !== undefined && !open) holders.delete(client.id)
    return await del(client)
  }, WHY, 'persistence')

  patch(b, 'registerClient', fn(1), (register) => (client: Client) => {
    registering.set(client.id, client)
    register(client)
  }, WHY_DELAYED, 'broker')
  patch(b, '_finishRegisterClient', fn(1), (finish) => (client: Client) => {
    if (registering.get(client.id) === client) registering.delete(client.id)
    const pending = delayed.get(client.id)
    delayed.delete(client.id)
    // aedes clears the timer next: the session resumed, or (Clean Start 1) ended now
    if (pending !== undefined && !resumesSession(client) && !broker.closed) b.publishWill(pending.client, pending.will)
    finish(client)
  }, WHY_DELAYED, 'broker')
  patch(b, 'publishWill', fn(2), (publishWill) => (client: Client, will: PublishPacket) => {
    if (delayed.get(client.id)?.client === client) delayed.delete(client.id)
    publishWill(client, will)
  }, WHY_DELAYED, 'broker')
  patch(b, 'scheduleWill', fn(3), (schedule) => (client: Client, will: PublishPacket, delay: number) => {
    const next = registering.get(client.id)
    const here = next !== undefined && next !== client && !next.closed
    const away = takenOver(client)
    if (broker.closed || (!here && away === undefined)) {
      if (!broker.closed) delayed.set(client.id, { client, will })
      schedule(client, will, delay)
      return
    }
    if (here ? !resumesSession(next) : away?.endsSession === true) { b.publishWill(client, will); return }
    // cancelled: the session goes on with the new connection (which stored its own will, or none)
    store.delWill({ id: client.id, brokerId: b.id }).catch((err: unknown) => { broker.emit('error', err as Error) })
  }, WHY_DELAYED, 'broker')
}
