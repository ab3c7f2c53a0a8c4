// One view of a cluster (several broker workers on one Redis). pm2 hands each HTTP request to any worker; the
// worker answering /metrics or /api/v1/ clients, status, groups, fleet, users, topics and denials asks every
// live worker for its part over Redis pub/sub and answers with all of them (merged in control/cluster-parts.ts).
//
// Why not prom-client's cluster aggregator: it runs in the cluster's primary process, which under pm2 is pm2's
// own daemon. Why not snapshots each worker writes into Redis every few seconds: a scrape would read numbers
// that old, and every worker would render them whether anyone reads or not. Asked on demand, the answer is as
// fresh as one worker's, and a worker that does not answer in time is named (`missing`) rather than silently
// left out.
//
// A worker killed outright (SIGKILL, a crash) stays listed until its entry expires (TTL_MS), but Redis drops its
// connections at once (the kernel closes a dead process's sockets): a listed worker whose reply channel has no
// subscriber is not asked, and is named as missing without the wait. One that is alive but slow keeps its
// subscription and is waited for, up to ASK_TIMEOUT_MS. (A host that vanished without closing its sockets is
// only seen when Redis's tcp-keepalive gives up on them: until then its workers are waited for, as before.)
//
// The channels carry U+0000, which no MQTT topic may contain (MQTT-1.5.3-2): with the Redis bus every MQTT topic
// is a Redis channel of the same name, and no client can publish on these.
import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import { connectRedis, type RedisTarget } from '../store/redis-connect.js'
import type { Logger } from '@warden/common'
import { createClusterFeed, type ClusterFeed } from './cluster-feed.js'

const ASK_CHANNEL = 'warden:cluster\u0000ask'
const REPLY_PREFIX = 'warden:cluster\u0000reply:'
/** live workers: member = broker id, score = when its entry expires (ms) */
const WORKERS_KEY = 'warden:cluster-workers'
const BEAT_MS = 5000
const TTL_MS = 15000
/** how long a worker waits for the others' parts */
export const ASK_TIMEOUT_MS = 2000
/** a reply bigger than this is refused by the asker (a worker's clients list is bounded by `limit` anyway) */
const MAX_REPLY_BYTES = 64 * 1024 * 1024

export type PartKind = 'metrics' | 'clients' | 'status' | 'groups' | 'fleet' | 'users' | 'topics' | 'denials' | 'events'
export type PartHandler = (params: Record<string, unknown>) => Promise<unknown>

export interface Part<T> { readonly worker: string, readonly data: T }
export interface Gathered<T> {
  /** this worker's part first, then the others' in the order they answered */
  readonly parts: ReadonlyArray<Part<T>>
  /** listed workers that did not answer: gone (not asked) or silent for ASK_TIMEOUT_MS */
  readonly missing: readonly string[]
}

export interface ClusterView {
  readonly brokerId: string
  /** each live worker's answer to `kind` (this one's included) */
  gather<T> (kind: PartKind, params?: Record<string, unknown>): Promise<Gathered<T>>
  /** how this worker answers `kind` for the others */
  handle (kind: PartKind, handler: PartHandler): void
  /** the workers' live frames for the dashboard's event streams */
  readonly feed: ClusterFeed
  /** asks of this worker that waited the whole ASK_TIMEOUT_MS for a worker that stayed silent */
  readonly timeouts: number
  close (): Promise<void>
}

interface Ask { id: string, from: string, kind: PartKind, params: Record<string, unknown> }
interface Reply { id: string, worker: string, data?: unknown, error?: string }

export async function createClusterView (target: RedisTarget, brokerId: string, logger: Logger): Promise<ClusterView> {
  const conn = connectRedis(target, { maxRetriesPerRequest: 3 })
  const sub = connectRedis(target, { enableReadyCheck: false })
  const handlers = new Map<PartKind, PartHandler>()
  const waiting = new Map<string, (r: Reply) => void>()
  const replyChannel = REPLY_PREFIX + brokerId
  let timeouts = 0

  sub.on('messageBuffer', (channelBuf: Buffer, message: Buffer) => {
    const channel = channelBuf.toString()
    if (message.length > MAX_REPLY_BYTES) return
    let parsed: unknown
    try { parsed = JSON.parse(message.toString()) } catch { return }
    if (channel === replyChannel) {
      const r = parsed as Reply
      waiting.get(r.id)?.(r)
      return
    }
    if (channel !== ASK_CHANNEL) return
    const ask = parsed as Ask
    if (ask.from === brokerId || typeof ask.id !== 'string' || typeof ask.from !== 'string') return
    const handler = handlers.get(ask.kind)
    if (handler === undefined) return
    handler(ask.params ?? {}).then(
      (data) => ({ id: ask.id, worker: brokerId, data }),
      (err: unknown) => ({ id: ask.id, worker: brokerId, error: (err as Error).message })
    ).then((reply: Reply) => conn.publish(REPLY_PREFIX + ask.from, JSON.stringify(reply)))
      .catch((err: unknown) => logger.warn({ err, kind: ask.kind }, 'cannot answer another worker'))
  })
  await sub.subscribe(ASK_CHANNEL, replyChannel)

  const beat = async (): Promise<void> => {
    const now = Date.now()
    await conn.multi().zadd(WORKERS_KEY, now + TTL_MS, brokerId).zremrangebyscore(WORKERS_KEY, '-inf', now).exec()
  }
  await beat()
  const timer = setInterval(() => { beat().catch(() => {}) }, BEAT_MS)
  timer.unref()

  const local = async <T>(kind: PartKind, params: Record<string, unknown>): Promise<T> => {
    const handler = handlers.get(kind)
    if (handler === undefined) throw new Error(`no handler for ${kind}`)
    return await handler(params) as T
  }

  const feed = createClusterFeed(conn, sub, brokerId, logger)
  return {
    brokerId,
    feed,
    get timeouts () { return timeouts },
    handle (kind, handler) { handlers.set(kind, handler) },
    async gather<T> (kind: PartKind, params: Record<string, unknown> = {}) {
      const listed = (await conn.zrangebyscore(WORKERS_KEY, Date.now(), '+inf')).filter((w) => w !== brokerId)
      const { others, gone } = await listening(conn, listed)
      const mine: Part<T> = { worker: brokerId, data: await local<T>(kind, params) }
      if (others.length === 0) return { parts: [mine], missing: gone }
      const id = randomUUID()
      const parts: Array<Part<T>> = [mine]
      const pending = new Set(others)
      const failed: string[] = []
      await new Promise<void>((resolve) => {
        const done = (): void => { clearTimeout(timeout); waiting.delete(id); resolve() }
        const timeout = setTimeout(() => { timeouts++; done() }, ASK_TIMEOUT_MS)
        waiting.set(id, (r) => {
          if (!pending.delete(r.worker)) return
          if (r.error === undefined) parts.push({ worker: r.worker, data: r.data as T })
          else { failed.push(r.worker); logger.warn({ worker: r.worker, kind, error: r.error }, 'another worker failed to answer') }
          if (pending.size === 0) done()
        })
        conn.publish(ASK_CHANNEL, JSON.stringify({ id, from: brokerId, kind, params } satisfies Ask)).catch(done)
      })
      return { parts, missing: [...failed, ...pending, ...gone] }
    },
    async close () {
      clearInterval(timer)
      feed.close()
      await conn.zrem(WORKERS_KEY, brokerId).catch(() => {})
      sub.disconnect()
      conn.disconnect()
    }
  }
}

/** `listed` split by whether Redis holds their reply channel's subscription (PUBSUB NUMSUB: one round trip).
 * A worker subscribes before it lists itself, so a listed worker without it is gone (or cut off from Redis,
 * and would not hear the ask either). */
async function listening (conn: Redis, listed: readonly string[]): Promise<{ others: string[], gone: string[] }> {
  if (listed.length === 0) return { others: [], gone: [] }
  const counts = await conn.pubsub('NUMSUB', ...listed.map((w) => REPLY_PREFIX + w)) as unknown[]
  const others: string[] = []
  const gone: string[] = []
  listed.forEach((w, i) => { (Number(counts[2 * i + 1]) > 0 ? others : gone).push(w) })
  return { others, gone }
}

/** Prometheus text of several workers as one exposition: each sample gains `worker="<id>"`, each family keeps
 * one HELP and TYPE and all its samples together (the format requires it). */
export function mergeExpositions (parts: ReadonlyArray<Part<string>>): string {
  interface Family { head: string[], samples: string[] }
  const families = new Map<string, Family>()
  for (const { worker, data } of parts) {
    const label = `worker="${worker.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`
    let current: Family | undefined
    for (const line of data.split('\n')) {
      if (line === '') continue
      if (line.startsWith('# ')) {
        const [, what, name = ''] = line.split(' ', 3)
        if (what !== 'HELP' && what !== 'TYPE') continue
        current = families.get(name)
        if (current === undefined) families.set(name, current = { head: [], samples: [] })
        if (current.head.length < 2 && !current.head.some((h) => h.startsWith(`# ${what} `))) current.head.push(line)
        continue
      }
      if (current === undefined) continue
      const brace = line.search(/[{ ]/)
      if (brace < 0) continue
      current.samples.push(line[brace] === '{'
        ? `${line.slice(0, brace)}{${label},${line.slice(brace + 1)}`.replace(`{${label},}`, `{${label}}`)
        : `${line.slice(0, brace)}{${label}}${line.slice(brace)}`)
    }
  }
  const out: string[] = []
  for (const f of families.values()) out.push(...f.head, ...f.samples)
  return out.join('\n') + '\n'
}
