// Sends a connected persistent session what the cluster's bus did not bring it while the bus was away.
//
// Redis pub/sub keeps nothing for a subscriber that is not there. When this process's bus connection is lost
// (Redis restarted, the connection dropped), ioredis subscribes again only once it has reconnected, and the
// other processes' store and bus connections may be back before that: they queue a message for its
// persistent subscribers (before its publisher is acknowledged) and publish it to no one here. aedes reads a
// session's queue only when it resumes, so a subscriber that stayed connected got such a message at its next
// reconnect, or never (seen: 1–5 acknowledged messages a run, in cluster-redis-outage.test.ts).
// Once the bus is subscribed again (store/redis-bus.ts), the queue of each persistent session connected here
// is read, and what this connection was not sent is sent as the resumed queue is; the store leaves out what it
// has in flight, and what the bus brings while the queue is being read is left out too. A message in the
// queue whose PUBLISH reached Redis after the subscription still comes live, possibly after the replay sent
// it: that copy is dropped and the queue entry left for the replayed copy's acknowledgement (at QoS 2 a second
// copy would be a second message, MQTT-4.3.3).
import type { AedesPublishPacket, Aedes, Client } from 'aedes'
import { clientsOf, connackSent, deliverersOf } from '../aedes/accessors.js'
import { identityOf, type AedesStore, type StoredPacket } from '../aedes/store.js'
import { anyClaims, claim, isClaimed, sessionOf } from './replay-claims.js'

interface Replay {
  /** live copies forwarded while the queue is read and sent: not sent again */
  readonly live: Set<string>
  running: boolean
  /** the bus was lost again while this replay ran: one more once it is done */
  again: boolean
}

const replays = new WeakMap<Client, Replay>()
type Identified = Pick<StoredPacket, 'brokerId' | 'brokerCounter'>

/** a message from the bus (a queue replay's carry the callback aedes writes them with; a retained one has no broker id) */
function isLive (packet: AedesPublishPacket): boolean {
  const p = packet as AedesPublishPacket & { brokerId?: string | null, writeCallback?: unknown }
  return p.brokerId !== undefined && p.brokerId !== null && p.brokerId !== '' && p.writeCallback === undefined && packet.qos > 0
}

type Forward = (client: Client, packet: AedesPublishPacket) => AedesPublishPacket | null

export interface BusGapReplay {
  /** a stage of the hook pipeline (hooks/pipeline.ts) on authorizeForward: a live copy of a message a replay sent is not forwarded */
  readonly stage: { readonly name: string, authorizeForward (client: Client, packet: AedesPublishPacket, next: Forward): AedesPublishPacket | null }
  /**
   * each time `onResubscribed` reports the bus subscribed again, every persistent session connected to
   * `broker` is sent what it missed from `store` (the store aedes was given)
   */
  attach (broker: Aedes, store: AedesStore, onResubscribed: (listener: () => void) => void): void
}

export function createBusGapReplay (): BusGapReplay {
  const replayTo = async (store: AedesStore, client: Client, r: Replay): Promise<void> => {
    const deliver = deliverersOf(client).atQos
    const session = sessionOf(client)
    for await (const p of store.outgoingStream(client)) {
      if (client.closed) break
      // PUBRELs and sent QoS 2 messages of this session go on as they are
      if (p.cmd !== undefined && p.cmd !== 'publish') continue
      const id = identityOf(p)
      if (r.live.has(id) || isClaimed(session, p)) continue
      claim(session, id)
      // through the client's own delivery, as the bus would have: rules, QoS capping, packet id, store update;
      // the callback marks it as no live copy. RETAIN 0, as for an established subscription (MQTT-3.3.1-9): aedes
      // neither stores nor tracks a delivery marked retained, so its acknowledgement found nothing (at QoS 2 the
      // PUBREC closed the subscriber's connection) and the message stayed queued, sent again at each return
      await new Promise<void>((resolve) => { deliver({ ...p, retain: false, writeCallback: noop }, resolve) })
    }
  }
  const run = (store: AedesStore, client: Client): void => {
    let r = replays.get(client)
    if (r === undefined) {
      r = { live: new Set(), running: false, again: false }
      replays.set(client, r)
    }
    if (r.running) { r.again = true; return }
    const replay = r
    replay.running = true
    replayTo(store, client, replay).catch(noop).finally(() => {
      replay.running = false
      replay.live.clear()
      if (replay.again && !client.closed) { replay.again = false; run(store, client) } else replays.delete(client)
    })
  }
  return {
    stage: {
      name: 'bus-gap-replay',
      authorizeForward (client, packet, next) {
        if (!anyClaims() && replays.get(client) === undefined) return next(client, packet)
        if (!isLive(packet)) return next(client, packet)
        if (isClaimed(sessionOf(client), packet as Identified)) return null
        const out = next(client, packet)
        const r = replays.get(client)
        if (out !== null && r?.running === true) r.live.add(identityOf(packet as Identified))
        return out
      }
    },
    attach (broker, store, onResubscribed) {
      // A session still being sent its stored queue (aedes's resume, CONNACK sent, not yet ready) is replayed once
      // that is done: read alongside, the replay sent what the resume was about to send, under other packet ids
      // (seen: 18 of 40 QoS 2 messages twice). A CONNECT that came while the bus was away is answered as soon as it
      // is subscribed again, so its resume and the replay start together.
      const afterResume = new WeakSet<Client>()
      broker.on('clientReady', (client) => {
        if (afterResume.delete(client) && !client.clean && !client.closed) run(store, client)
      })
      onResubscribed(() => {
        for (const client of Object.values(clientsOf(broker))) {
          if (client === undefined || client.clean || !connackSent(client) || client.closed) continue
          if (client.connected) run(store, client)
          else afterResume.add(client)
        }
      })
    }
  }
}

function noop (): void {}
