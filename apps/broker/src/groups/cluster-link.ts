// How broker processes of a cluster keep their groups in step, over the aedes bus (Redis pub/sub):
// membership changes are announced (every process re-reads the group from Redis), a copy chosen for a
// member connected to another process is forwarded there, and each process says it is alive.
//
// Copies forwarded to one process within one event-loop turn travel together, in one sealed PUBLISH
// (link-batch.ts): one Redis command and one HMAC per batch, not per copy. A process says it reads batches
// (`warden:share:batching`, refreshed with its presence); to one that does not (a Warden before batches, during
// a rolling upgrade) each copy goes alone, on the topic it reads.
//
// A QoS 1/2 copy is the sender's until the receiver answers that it has it in its member's session (or, for a
// member with no stored session, that it will write it): its publisher is acknowledged only then. The answer is
// one per batch, sealed like the batch (`$WARDEN/share/taken/<sender>`); with no answer within
// `sharedSubscriptions.handoverTimeoutMs`, the sender takes the batch back (handover-claim.ts) and gives its
// copies to another member or the group's queue. A process says it answers (`warden:share:answering`, refreshed
// with its presence); to one that does not (a Warden from before answers), a copy is the receiver's once Redis
// has taken its PUBLISH, as before.
//
// A process killed outright stays listed as alive for up to PRESENCE_TTL_MS, its members connected as far as the
// cluster knows; but Redis dropped its subscriptions at once. A batch to be answered is published only if its
// receiver still listens on its batch topic (one script: PUBSUB NUMSUB, then PUBLISH): if not, nothing was sent,
// its copies go at once to another member or the group's queue (`gone`), and that process is marked unreachable:
// its members are skipped until it listens again (checked at each beat) or it says something on the bus. A process
// alive but stopped (SIGSTOP) still holds its subscriptions and is waited for as before. The same evidence, checked
// every half second for the processes members are connected to (dead-watch.ts), marks a dead process's members
// offline and takes back the batches sent to it within about a second and a half (shared-subscriptions.ts).
import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import { createLinkSeal } from './link-seal.js'
import type { Copy } from './types.js'
import { decodeProperties, encodeProperties } from './copy-properties.js'
import { decodeAnyBatch, encodeBatch, type Handover } from './link-batch.js'
import { createHandoverClaims } from './handover-claim.js'
import { encodeEnvelope } from '../store/bus-codec.js'
import { heldKey, reapedKey } from './held-copies.js'
import { createReceiverAnswers, createSenderAnswers, type Answer, type HandoverResult, type Result, type Taken } from './link-answers.js'

const SYNC_TOPIC = '$WARDEN/share/sync'
const ACK_PREFIX = '$WARDEN/share/ack/'
const DELIVER_PREFIX = '$WARDEN/share/deliver/'
const BATCH_PREFIX = '$WARDEN/share/batch/'
/** a receiver's answer to a batch (link-answers.ts) */
const TAKEN_PREFIX = '$WARDEN/share/taken/'
/** a channel every live process's bus subscribes to (from the first Warden with a link on): Redis counts none for a
 * process killed outright (dead-watch.ts) */
export const liveChannelOf = (broker: string): string => ACK_PREFIX + broker
/** publishes ARGV[1] on KEYS[1] if a connection subscribes to that channel (patterns not counted: a `#` subscriber
 * on another process reads every channel); -1 when none does, and nothing was published */
const SEND_IF_HEARD = `
if redis.call('PUBSUB', 'NUMSUB', KEYS[1])[2] == 0 then return -1 end
return redis.call('PUBLISH', KEYS[1], ARGV[1])`
const PRESENCE = 'warden:share:brokers'
/** the processes that read batches on BATCH_PREFIX + their id, scored by when they last said so (with their presence) */
const BATCHING = 'warden:share:batching'
/** the processes that answer the batches they are sent (TAKEN_PREFIX), scored as BATCHING */
const ANSWERING = 'warden:share:answering'
/** copies in one batch at most, and payload bytes past which a batch goes at once (a turn that forwards more
 * sends several) */
const BATCH_MAX = 256
const BATCH_BYTES = 1 << 20
const PRESENCE_EVERY_MS = 5000
/** what a process said it does (BATCHING, ANSWERING) is believed this long after it last said so, unless it has said
 * it is alive since without saying that (an earlier Warden restarted under its id, during a rolling downgrade). A
 * process silent past PRESENCE_TTL_MS but still listening keeps its members for a while (presence-sweep.ts): copies
 * to them still go in batches it answers, taken back if it does not, not as to a Warden before answers (the
 * receiver's once Redis has them, lost should it be killed before it resumes) */
const SAID_TTL_MS = 600_000
/** a process not heard of for this long is silent: gone if it no longer listens on Redis either (presence-sweep.ts) */
export const PRESENCE_TTL_MS = 20000
/** a join waits at most this long for the other processes to read it (a process that hangs, or died meanwhile) */
const ANNOUNCE_WAIT_MS = 2000
/** a shutdown waits at most this long for the batches this process is answering */
const ANSWER_WAIT_MS = 3000

type Done = () => void
interface BusPacket { topic: string, payload: Buffer | string, brokerId?: unknown }
export interface Bus {
  on (topic: string, listener: (packet: BusPacket, done: Done) => void, done?: Done): void
  removeListener (topic: string, listener: (packet: BusPacket, done: Done) => void, done?: Done): void
  emit (packet: object, done?: (err?: Error) => void): void
}

/** a copy for one member; `exclude`: members already tried for this copy */
export type Forwarded = Handover

export type { HandoverResult } from './link-answers.js'

export interface ClusterLinkDeps {
  bus: Bus
  redis: Redis
  self: string
  /** re-read a group's members; resolves once this process dispatches for it */
  onSync: (key: string) => Promise<void>
  onForward: (f: Forwarded) => void
  /**
   * A batch to answer (its QoS 1/2 hand-overs): resolves, for each, whether this process took it (in its member's
   * session, or nothing to store) or refused it. `gate` resolves once the batch is claimed: true, they are this
   * process's (written to their members); false, their sender took them back (dropped, and out of the sessions)
   */
  onHandover: (items: readonly Forwarded[], gate: Promise<boolean>, batch: string) => Promise<Taken>
  /** a batch taken back by its sender before this process could answer it: its copies were dropped here */
  onTakenBack: (copies: number) => void
  /** how long a sender waits for a receiver's answer before it takes the batch back */
  handoverTimeoutMs: number
  onError: (err: unknown) => void
  /** a message on a link topic that no broker process sent (audited by the caller) */
  onForged: (topic: string, why: string) => void
  /** a join waited ANNOUNCE_WAIT_MS for these processes, alive as Redis sees them, that did not read it */
  onLate?: (key: string, brokers: readonly string[]) => void
  /** `broker` no longer listens on Redis (a batch for it was not sent); `false`: it listens again */
  onUnreachable?: (broker: string, unreachable: boolean) => void
  /** another process (`by`) found this one dead and handed its members' copies on: seen at a beat */
  onReaped?: (by: string) => void
}

export interface ClusterLink {
  /** tells the other processes a group changed; with `wait`, until they have read it (a member joined:
   * from its SUBACK on, every live process dispatches to it; a new group: they listen to its filter) */
  announce (key: string, wait: boolean): Promise<void>
  forward (broker: string, f: Forwarded): Promise<HandoverResult>
  /** false for a process found no longer listening on Redis: its members get nothing forwarded for now */
  reachable (broker: string): boolean
  /** processes alive now (this one included) */
  live (): Promise<Set<string>>
  /** `broker` is dead (dead-watch.ts): the batches it was sent and did not answer are taken back now (the claim
   * decides, as after the time-out) */
  takeBackFrom (broker: string): Promise<void>
  /** the processes this one waits on for answers */
  awaited (): Set<string>
  close (): Promise<void>
}

/** `b`: the sender reads batches (absent from processes before them); `a`: it answers them */
interface Sync { key: string, from: string, seq?: number, b?: boolean, a?: boolean }
/** `o`: MQTT 5 properties, `e`: message expiry (absent for a 3.1.1 message, and from processes before MQTT 5) */
interface EncodedCopy { k: string, t: string, p: string, q: 0 | 1 | 2, b: string, c: number, o?: Record<string, unknown>, e?: number }

const encode = (c: Copy): EncodedCopy => ({
  k: c.key, t: c.topic, p: c.payload.toString('base64'), q: c.qos, b: c.brokerId, c: c.brokerCounter, o: encodeProperties(c.properties), e: c.messageExpiry
})
const decode = (e: EncodedCopy): Copy => ({
  key: e.k, topic: e.t, payload: Buffer.from(e.p, 'base64'), qos: e.q, brokerId: e.b, brokerCounter: e.c, properties: decodeProperties(e.o), messageExpiry: e.e
})

export async function createClusterLink (deps: ClusterLinkDeps): Promise<ClusterLink> {
  const { bus, redis, self, onSync, onForward, onError, onForged, onLate } = deps
  let seq = 0
  const claims = createHandoverClaims(redis)
  /** batch ids: unique to this process's life, so that a restarted process never meets its old claims */
  const nonce = randomBytes(6).toString('base64url')
  let batchSeq = 0
  const waiting = new Map<number, { brokers: Set<string>, resolve: () => void }>()
  const seal = await createLinkSeal(redis)
  const send = (topic: string, payload: Buffer): Promise<void> => new Promise((resolve, reject) =>
    bus.emit({ topic, payload, qos: 0, retain: false }, (err) => err !== undefined && err !== null ? reject(err) : resolve()))
  const emit = (topic: string, body: unknown): Promise<void> => send(topic, seal.seal(topic, body))
  // what arrives on a link topic is believed only when a broker process sealed it (link-seal.ts)
  const listenOn = (topic: string, fn: (p: BusPacket) => void): Promise<() => Promise<void>> => new Promise((resolve) => {
    const listener = (p: BusPacket, done: Done): void => {
      try { fn(p) } catch (err) { onError(err) }
      done()
    }
    bus.on(topic, listener, () => resolve(() => new Promise((r) => bus.removeListener(topic, listener, r))))
  })
  const listen = <T>(topic: string, fn: (body: T) => void): Promise<() => Promise<void>> => listenOn(topic, (p) => {
    const opened = seal.open(p)
    if (opened.ok) fn(opened.body as T)
    else onForged(p.topic, opened.why)
  })

  /** the other processes that read batches: from Redis at each beat, and from their announcements meanwhile (a
   * process that started since the last beat announces its members' joins before copies are forwarded to them) */
  let batching = new Set<string>()
  let answering = new Set<string>()
  /** processes a batch was not sent to: they no longer listened on Redis */
  const unreachable = new Set<string>()
  const markReachable = (broker: string): void => {
    if (unreachable.delete(broker)) deps.onUnreachable?.(broker, false)
  }
  const sender = createSenderAnswers(claims, deps.handoverTimeoutMs, onError)
  const receiver = createReceiverAnswers({
    onHandover: deps.onHandover,
    onForward,
    onTakenBack: deps.onTakenBack,
    // the answer is published by the claim's own script, as the bus would publish it (store/bus-codec.ts)
    claimAndAnswer: async (to, a, value, taken) => {
      const topic = TAKEN_PREFIX + to
      const message = encodeEnvelope(randomBytes(12).toString('base64url'), { topic, payload: seal.seal(topic, a), qos: 0, retain: false })
      return await claims.claimAndPublish(a.id, value, topic, message, { key: heldKey(self), entries: taken.held }, taken.pending)
    }
  })

  const offs = await Promise.all([
    listen<Sync>(SYNC_TOPIC, (s) => {
      markReachable(s.from)
      if (s.b === true && s.from !== self) batching.add(s.from)
      if (s.a === true && s.from !== self) answering.add(s.from)
      onSync(s.key).then(async () => {
        if (s.seq !== undefined && s.from !== self) await emit(ACK_PREFIX + s.from, { seq: s.seq, from: self })
      }).catch(onError)
    }),
    listen<{ seq: number, from: string }>(ACK_PREFIX + self, (a) => {
      const w = waiting.get(a.seq)
      if (w === undefined) return
      w.brokers.delete(a.from)
      if (w.brokers.size === 0) w.resolve()
    }),
    listen<{ c: EncodedCopy, m: string, x: string[], r: boolean }>(DELIVER_PREFIX + self, (f) => {
      onForward({ copy: decode(f.c), clientId: f.m, exclude: f.x, redelivery: f.r })
    }),
    listenOn(BATCH_PREFIX + self, (p) => {
      const opened = seal.openBytes(p)
      if (!opened.ok) { onForged(p.topic, opened.why); return }
      const { header, items } = decodeAnyBatch(opened.bytes)
      if (header === undefined) for (const f of items) onForward(f)
      else receiver.receive(header, items).catch(onError)
    }),
    listen<Answer>(TAKEN_PREFIX + self, (a) => sender.answered(a))
  ])

  /** of `brokers`, those whose bus still listens on their ack topic (or `prefix`): a process killed outright stays in PRESENCE
   * until its entry is PRESENCE_TTL_MS old, but Redis dropped its connections at once (PUBSUB NUMSUB, one command) */
  const listening = async (brokers: readonly string[], prefix = ACK_PREFIX): Promise<string[]> => {
    if (brokers.length === 0) return []
    const counts = await redis.pubsub('NUMSUB', ...brokers.map((b) => prefix + b)) as unknown[]
    return brokers.filter((_, i) => Number(counts[2 * i + 1]) > 0)
  }

  let starting = true
  const beat = async (): Promise<void> => {
    const now = Date.now()
    const r = await redis.multi()
      .zadd(PRESENCE, now, self)
      .zadd(BATCHING, now, self)
      .zremrangebyscore(BATCHING, '-inf', now - SAID_TTL_MS)
      .zrangebyscore(BATCHING, now - SAID_TTL_MS, '+inf', 'WITHSCORES')
      .zadd(ANSWERING, now, self)
      .zremrangebyscore(ANSWERING, '-inf', now - SAID_TTL_MS)
      .zrangebyscore(ANSWERING, now - SAID_TTL_MS, '+inf', 'WITHSCORES')
      .get(reapedKey(self))
      .del(reapedKey(self))
      .zrangebyscore(PRESENCE, now - PRESENCE_TTL_MS, '+inf')
      .exec()
    const presence = r?.[9]?.[1]
    const heard = Array.isArray(presence) ? new Set<unknown>(presence) : undefined
    // a process heard of lately (its presence) that did not say so with it is an earlier Warden restarted under its id
    const believed = (v: unknown): Set<string> | undefined => {
      if (!Array.isArray(v) || heard === undefined) return undefined
      const out = new Set<string>()
      for (let i = 1; i < v.length; i += 2) {
        const b: unknown = v[i - 1]
        if (typeof b === 'string' && b !== self && (Number(v[i]) >= now - PRESENCE_TTL_MS || !heard.has(b))) out.add(b)
      }
      return out
    }
    batching = believed(r?.[3]?.[1]) ?? batching
    answering = believed(r?.[6]?.[1]) ?? answering
    // a mark found at the first beat is for an earlier process under this id (restarted): nothing to record again
    const reapedBy = r?.[7]?.[1]
    if (typeof reapedBy === 'string' && !starting) deps.onReaped?.(reapedBy)
    starting = false
    // those found not listening: back once they listen again (a process restarted under its id, a dropped
    // connection restored)
    const gone = [...unreachable]
    if (gone.length > 0) for (const b of await listening(gone, BATCH_PREFIX)) markReachable(b)
  }
  await beat()
  const timer = setInterval(() => { beat().catch(onError) }, PRESENCE_EVERY_MS)
  timer.unref()

  // copies waiting for the end of this event-loop turn, by the process they go to; `answered`: the receiver answers
  interface Outbox { readonly items: Handover[], readonly results: Result[], bytes: number, readonly answered: boolean }
  const outboxes = new Map<string, Outbox>()
  let flushing: NodeJS.Immediate | undefined
  /** as the bus would publish it (store/bus-codec.ts), if the receiver listens: false when it did not, and nothing was sent */
  const sendIfHeard = async (topic: string, payload: Buffer): Promise<boolean> => {
    const message = encodeEnvelope(randomBytes(12).toString('base64url'), { topic, payload, qos: 0, retain: false })
    return Number(await redis.eval(SEND_IF_HEARD, 1, topic, message)) >= 0
  }
  const ship = (broker: string, box: Outbox): void => {
    const topic = BATCH_PREFIX + broker
    const fail = (err: unknown): void => { for (const r of box.results) r.reject(err ?? new Error('cannot send a consumer-group batch')) }
    const header = box.answered ? { id: `${nonce}.${(++batchSeq).toString(36)}`, from: self, at: Date.now() } : undefined
    let payload: Buffer
    try {
      payload = seal.sealBytes(topic, encodeBatch(box.items, header))
    } catch (err) { fail(err); return }
    if (header !== undefined) sender.expect(header.id, box.results, broker)
    const sent = header === undefined ? send(topic, payload).then(() => true) : sendIfHeard(topic, payload)
    sent.then((heard) => {
      if (!heard) {
        // not sent: no receiver can have it, nothing to claim
        sender.cancel((header as { id: string }).id)
        if (!unreachable.has(broker)) { unreachable.add(broker); deps.onUnreachable?.(broker, true) }
        for (const r of box.results) r.resolve('gone')
        return
      }
      // what needs no answer is the receiver's once Redis has it: QoS 0 copies, and all of a batch to a process
      // that does not answer
      box.items.forEach((f, i) => { if (header === undefined || f.copy.qos === 0) box.results[i]?.resolve('taken') })
    }, (err: unknown) => {
      if (header !== undefined) sender.cancel(header.id)
      fail(err)
    })
  }
  const flush = (): void => {
    flushing = undefined
    for (const [broker, box] of outboxes) ship(broker, box)
    outboxes.clear()
  }
  const batch = (broker: string, f: Forwarded): Promise<HandoverResult> => {
    let box = outboxes.get(broker)
    if (box === undefined) {
      box = { items: [], results: [], bytes: 0, answered: answering.has(broker) }
      outboxes.set(broker, box)
    }
    const result = new Promise<HandoverResult>((resolve, reject) => { (box as Outbox).results.push({ resolve, reject }) })
    box.items.push(f)
    box.bytes += f.copy.payload.length
    if (box.items.length >= BATCH_MAX || box.bytes >= BATCH_BYTES) {
      outboxes.delete(broker)
      ship(broker, box)
    } else {
      flushing ??= setImmediate(flush)
    }
    return result
  }

  const live = async (): Promise<Set<string>> => new Set(await redis.zrangebyscore(PRESENCE, Date.now() - PRESENCE_TTL_MS, '+inf'))

  return {
    live,
    reachable: (broker) => !unreachable.has(broker),
    takeBackFrom: async (broker) => { await sender.takeBackFrom(broker) },
    awaited: () => sender.awaited(),
    async announce (key, wait) {
      if (!wait) { await emit(SYNC_TOPIC, { key, from: self, b: true, a: true } satisfies Sync); return }
      const others = await listening([...await live()].filter((b) => b !== self))
      const n = ++seq
      let timeout: NodeJS.Timeout | undefined
      const acked = new Promise<void>((resolve) => {
        const brokers = new Set(others)
        waiting.set(n, { brokers, resolve })
        if (others.length === 0) resolve()
        timeout = setTimeout(() => { onLate?.(key, [...brokers]); resolve() }, ANNOUNCE_WAIT_MS)
      })
      try {
        await emit(SYNC_TOPIC, { key, from: self, seq: n, b: true, a: true } satisfies Sync)
        await acked
      } finally {
        clearTimeout(timeout)
        waiting.delete(n)
      }
    },
    async forward (broker, f) {
      if (batching.has(broker)) return await batch(broker, f)
      await emit(DELIVER_PREFIX + broker, { c: encode(f.copy), m: f.clientId, x: f.exclude, r: f.redelivery })
      return 'taken'
    },
    async close () {
      clearInterval(timer)
      if (flushing !== undefined) { clearImmediate(flushing); flush() }
      for (const w of waiting.values()) w.resolve()
      // batches being answered: claimed before Redis goes, else their senders give copies already in sessions to others
      await receiver.settled(ANSWER_WAIT_MS)
      // batches not answered yet: taken back now (or found claimed), while Redis is still there
      await sender.takeBackAll().catch(() => {})
      await Promise.all(offs.map((off) => off())).catch(() => {})
      await redis.multi().zrem(PRESENCE, self).zrem(BATCHING, self).zrem(ANSWERING, self).exec().catch(() => {})
    }
  }
}
