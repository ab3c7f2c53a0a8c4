// How broker processes of a cluster keep their groups in step, over the aedes bus (Redis pub/sub):
// membership changes are announced (every process re-reads the group from Redis), a copy chosen for a
// member connected to another process is forwarded there, and each process says it is alive.
import type { Redis } from 'ioredis'
import { createLinkSeal } from './link-seal.js'
import type { Copy } from './types.js'
import { decodeProperties, encodeProperties } from './copy-properties.js'

const SYNC_TOPIC = '$WARDEN/share/sync'
const ACK_PREFIX = '$WARDEN/share/ack/'
const DELIVER_PREFIX = '$WARDEN/share/deliver/'
const PRESENCE = 'warden:share:brokers'
const PRESENCE_EVERY_MS = 5000
/** a process not heard of for this long is gone: its members are offline */
export const PRESENCE_TTL_MS = 20000
/** a join waits at most this long for the other processes to read it (a process that died meanwhile) */
const ANNOUNCE_WAIT_MS = 2000

type Done = () => void
interface BusPacket { topic: string, payload: Buffer | string, brokerId?: unknown }
export interface Bus {
  on (topic: string, listener: (packet: BusPacket, done: Done) => void, done?: Done): void
  removeListener (topic: string, listener: (packet: BusPacket, done: Done) => void, done?: Done): void
  emit (packet: object, done?: (err?: Error) => void): void
}

export interface Forwarded {
  readonly copy: Copy
  readonly clientId: string
  /** members already tried for this copy */
  readonly exclude: readonly string[]
  readonly redelivery: boolean
}

export interface ClusterLinkDeps {
  bus: Bus
  redis: Redis
  self: string
  /** re-read a group's members; resolves once this process dispatches for it */
  onSync: (key: string) => Promise<void>
  onForward: (f: Forwarded) => void
  onError: (err: unknown) => void
  /** a message on a link topic that no broker process sent (audited by the caller) */
  onForged: (topic: string, why: string) => void
}

export interface ClusterLink {
  /** tells the other processes a group changed; with `wait`, until they have read it (a member joined:
   * from its SUBACK on, every live process dispatches to it; a new group: they listen to its filter) */
  announce (key: string, wait: boolean): Promise<void>
  forward (broker: string, f: Forwarded): Promise<void>
  /** processes alive now (this one included) */
  live (): Promise<Set<string>>
  close (): Promise<void>
}

interface Sync { key: string, from: string, seq?: number }
/** `o`: MQTT 5 properties, `e`: message expiry (absent for a 3.1.1 message, and from processes before MQTT 5) */
interface EncodedCopy { k: string, t: string, p: string, q: 0 | 1 | 2, b: string, c: number, o?: Record<string, unknown>, e?: number }

const encode = (c: Copy): EncodedCopy => ({
  k: c.key, t: c.topic, p: c.payload.toString('base64'), q: c.qos, b: c.brokerId, c: c.brokerCounter, o: encodeProperties(c.properties), e: c.messageExpiry
})
const decode = (e: EncodedCopy): Copy => ({
  key: e.k, topic: e.t, payload: Buffer.from(e.p, 'base64'), qos: e.q, brokerId: e.b, brokerCounter: e.c, properties: decodeProperties(e.o), messageExpiry: e.e
})

export async function createClusterLink ({ bus, redis, self, onSync, onForward, onError, onForged }: ClusterLinkDeps): Promise<ClusterLink> {
  let seq = 0
  const waiting = new Map<number, { brokers: Set<string>, resolve: () => void }>()
  const seal = await createLinkSeal(redis)
  const emit = (topic: string, body: unknown): Promise<void> => new Promise((resolve, reject) =>
    bus.emit({ topic, payload: seal.seal(topic, body), qos: 0, retain: false }, (err) => err !== undefined && err !== null ? reject(err) : resolve()))
  // what arrives on a link topic is believed only when a broker process sealed it (link-seal.ts)
  const listen = <T>(topic: string, fn: (body: T) => void): Promise<() => Promise<void>> => new Promise((resolve) => {
    const listener = (p: BusPacket, done: Done): void => {
      try {
        const opened = seal.open(p)
        if (opened.ok) fn(opened.body as T)
        else onForged(p.topic, opened.why)
      } catch (err) { onError(err) }
      done()
    }
    bus.on(topic, listener, () => resolve(() => new Promise((r) => bus.removeListener(topic, listener, r))))
  })

  const offs = await Promise.all([
    listen<Sync>(SYNC_TOPIC, (s) => {
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
    })
  ])

  const beat = (): Promise<unknown> => redis.zadd(PRESENCE, Date.now(), self)
  await beat()
  const timer = setInterval(() => { beat().catch(onError) }, PRESENCE_EVERY_MS)
  timer.unref()

  const live = async (): Promise<Set<string>> => new Set(await redis.zrangebyscore(PRESENCE, Date.now() - PRESENCE_TTL_MS, '+inf'))

  return {
    live,
    async announce (key, wait) {
      if (!wait) { await emit(SYNC_TOPIC, { key, from: self }); return }
      const others = [...await live()].filter((b) => b !== self)
      const n = ++seq
      let timeout: NodeJS.Timeout | undefined
      const acked = new Promise<void>((resolve) => {
        waiting.set(n, { brokers: new Set(others), resolve })
        if (others.length === 0) resolve()
        timeout = setTimeout(resolve, ANNOUNCE_WAIT_MS)
      })
      try {
        await emit(SYNC_TOPIC, { key, from: self, seq: n })
        await acked
      } finally {
        clearTimeout(timeout)
        waiting.delete(n)
      }
    },
    async forward (broker, f) {
      await emit(DELIVER_PREFIX + broker, { c: encode(f.copy), m: f.clientId, x: f.exclude, r: f.redelivery })
    },
    async close () {
      clearInterval(timer)
      for (const w of waiting.values()) w.resolve()
      await Promise.all(offs.map((off) => off())).catch(() => {})
      await redis.zrem(PRESENCE, self).catch(() => {})
    }
  }
}
