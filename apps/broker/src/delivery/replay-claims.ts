// The messages a queue replay sent a connected persistent session, whose live copies are not sent it again.
//
// A message is queued for its persistent subscribers before its publisher puts it on the bus: a session whose
// queue is read once the message is in it, and whose subscription is live by the time the bus brings the message,
// gets it twice, from its queue and live (at QoS 2 a second message, MQTT-4.3.3). aedes reads a session's queue as
// it resumes (CONNACK sent, its subscriptions restored: a message still on its way to the bus then comes live too),
// and bus-gap.ts after a bus outage. While the copy from the queue is in flight the stores refuse the live one
// (store/level-queues.ts, store/redis-queues.ts); once it is acknowledged, only the level store can still tell
// (the entry is gone), the Redis store cannot, and a live copy the bus brings later is found here. Its queue entry
// is left for the replayed copy's acknowledgement (keepReplayedEntries).
import type { Client } from 'aedes'
import { Readable } from 'node:stream'
import { fn, patch } from '../aedes/patch.js'
import { identityOf, isOpenConnection, type AedesStore, type Session, type StoredPacket } from '../aedes/store.js'

/**
 * How long a replayed message's live copy is dropped. Its PUBLISH follows its queue write at once on the
 * publishing process, delayed at most by that process's own reconnection to Redis (ioredis retries every 2 s
 * at most): a minute is far beyond it, and the claims of one replay are bounded by the queue read (1000).
 */
const CLAIM_MS = 60_000

/**
 * By client id (the session, not the connection): the messages a replay sent, until when their live copies are
 * dropped. A device that reconnects to its session on this process after the replay sent it a message (a
 * network blip) is still sent that message once: keyed by connection, its new connection took the live copy as
 * a message it never had, a second QoS 2 delivery. Keyed by broker id too: tests run several brokers in one process.
 */
const claims = new Map<string, Map<string, number>>()
let sweeping: NodeJS.Timeout | undefined

/** the session a connection (or a store's session object) is of, on its broker */
export const sessionOf = (client: { id: string, broker?: { id?: string } }): string => `${client.broker?.id ?? ''}\u0000${client.id}`

type Identified = Pick<StoredPacket, 'brokerId' | 'brokerCounter'>

/** whether any session has a claim (nothing to look up per delivery otherwise) */
export const anyClaims = (): boolean => claims.size > 0

export function isClaimed (session: string, packet: Identified): boolean {
  const mine = claims.get(session)
  if (mine === undefined) return false
  const until = mine.get(identityOf(packet))
  if (until === undefined) return false
  if (until > Date.now()) return true
  mine.delete(identityOf(packet))
  if (mine.size === 0) claims.delete(session)
  return false
}

export function claim (session: string, id: string): void {
  let mine = claims.get(session)
  if (mine === undefined) claims.set(session, mine = new Map())
  mine.set(id, Date.now() + CLAIM_MS)
  // the claims of sessions that never see another live copy (gone, or nothing late) go once expired
  sweeping ??= setTimeout(sweep, CLAIM_MS + 1000).unref()
}

function sweep (): void {
  sweeping = undefined
  const now = Date.now()
  for (const [session, mine] of claims) {
    for (const [id, until] of mine) if (until <= now) mine.delete(id)
    if (mine.size === 0) claims.delete(session)
  }
  if (claims.size > 0) sweeping = setTimeout(sweep, CLAIM_MS).unref()
}

/**
 * aedes's read of a session's queue as it resumes (on the connection, before aedes has it connected: bus-gap.ts
 * reads a connected one's, and claims what it sends itself) claims each message it hands on. Its live copies are
 * dropped by the bus-gap stage (cluster mode: a bus on Redis, the store that cannot tell once acknowledged).
 */
export function claimResumeReads (store: AedesStore): void {
  patch(store, 'outgoingStream', fn(1), (stream) => (client) => {
    const read = stream(client)
    const c = client as Session & Partial<Client>
    // a clean session's read only drops what an earlier session left
    if (!isOpenConnection(client) || c.connected === true || c.clean === true) return read
    const session = sessionOf(client as Client)
    return Readable.from((async function * () {
      for await (const p of read) {
        if (p.cmd === undefined || p.cmd === 'publish') claim(session, identityOf(p))
        yield p
      }
    })())
  }, 'a message queued for a session before its queue is read as it resumes, and put on the bus after, is sent it twice', 'persistence')
}

/**
 * aedes forgets a queued message when it drops it on its way to a persistent session (authorizeForward said
 * no): the live copy of a replayed message must not take the replayed copy's queue entry with it (that copy
 * would be lost with the connection before its acknowledgement).
 */
export function keepReplayedEntries (store: AedesStore): void {
  patch(store, 'outgoingClearMessageId', fn(3), (clear) => async (client, packet) => {
    const p = packet as { messageId?: number, writeCallback?: unknown } & Identified
    if (p.messageId === undefined && p.writeCallback === undefined && isClaimed(sessionOf(client as Client), p)) return undefined
    return await clear(client, packet)
  }, 'aedes forgets a queued message whose live copy it drops, though a replay of the queue sent it', 'persistence')
}
