// The dashboard's event stream in a cluster: every worker's samples and refusals reach a stream opened on any
// worker. Each worker sends its frame of every sample (its rates, its moving registrations, its refusals since the
// last one) over the cluster feed (observe/cluster-feed.ts) while another worker's stream listens; a stream's
// worker sums, at each of its own samples, its sample and the latest frame of every other worker (rates are
// levels: each worker's latest counts once per sample, never added up over time), and passes each refusal on
// once, as its frame arrives, named by its worker.
import type { AuditEvent } from '../audit/audit.js'
import type { ClusterFeed } from '../observe/cluster-feed.js'
import type { ClusterView } from '../observe/cluster-view.js'
import type { RateSample } from '../observe/sampler.js'

export interface TopicUpdate { filter: string, messages: number, messagesPerSecond: number, lastPublishAt: string | null }
export type WorkerDenial = AuditEvent & { readonly worker: string }
/** a registration's counts on one worker (each worker counts what its own clients published) */
export type WorkerTopic = TopicUpdate & { readonly worker: string }
export type WorkerRates = RateSample & { readonly worker: string }

/** one worker's sample as it travels */
export interface WorkerFrame extends WorkerRates {
  readonly topics: readonly TopicUpdate[]
  readonly denials: readonly AuditEvent[]
}

/** a stats event's sample: the sums over `workers`, the workers' moving registrations */
export interface ClusterSample extends RateSample {
  readonly topics: WorkerTopic[]
  readonly workers: WorkerRates[]
}

export interface ClusterHello {
  readonly history: RateSample[]
  readonly denials: WorkerDenial[]
  readonly workers: readonly string[]
  readonly missing: readonly string[]
}

/** what a worker answers when another one's stream opens */
export interface EventsPart { readonly history: RateSample[], readonly denials: AuditEvent[] }

export interface ClusterEvents {
  /** a stream opened: the other workers' refusals as their frames arrive, until the returned function is called */
  follow (onDenials: (denials: WorkerDenial[]) => void): Promise<() => void>
  /** at each sample of this worker: its frame, built and sent only if another worker's stream listens */
  offer (build: () => WorkerFrame): void
  /** the cluster's sample: this worker's and the latest of the others' */
  merge (local: WorkerRates, localTopics: readonly TopicUpdate[]): ClusterSample
  /** the cluster's history (summed as live samples are) and latest refusals, for a stream's first event: from an
   * ask of the other workers sent after this call (streams opened together share one: at most one ask in flight,
   * however many streams an account opens) */
  hello (): Promise<ClusterHello>
}

const MAX_DENIALS = 50

export function createClusterEvents (cluster: ClusterView, intervalMs: number, onError: (err: unknown) => void): ClusterEvents {
  const feed: ClusterFeed = cluster.feed
  /** a worker whose latest frame is older than this (by arrival) has stopped or left: not summed */
  const staleMs = Math.max(3 * intervalMs, 1500)
  const latest = new Map<string, { rates: WorkerRates, at: number }>()
  /** registrations the others reported since this worker's last sample, by worker and filter */
  const topics = new Map<string, WorkerTopic>()
  const followers = new Set<(denials: WorkerDenial[]) => void>()
  let listening: Promise<() => void> | undefined
  let failing = false
  /** the hello ask in flight, and the one the streams opened meanwhile wait for */
  let inFlight: Promise<unknown> = Promise.resolve()
  let queued: Promise<ClusterHello> | undefined

  const onFrame = (raw: unknown): void => {
    const f = readFrame(raw)
    if (f === undefined) return
    latest.set(f.worker, { rates: ratesOf(f), at: Date.now() })
    for (const t of f.topics) topics.set(`${f.worker}\u0000${t.filter}`, { ...t, worker: f.worker })
    if (f.denials.length === 0) return
    const named = f.denials.slice(-MAX_DENIALS).map((d) => ({ ...d, worker: f.worker }))
    for (const fn of followers) fn(named)
  }

  return {
    async follow (fn) {
      followers.add(fn)
      // a fresh listener each time: one being removed (the last stream closed) is not this one
      listening ??= feed.listen((f) => { onFrame(f) })
      await listening
      return () => {
        if (!followers.delete(fn) || followers.size > 0 || listening === undefined) return
        const stop = listening
        listening = undefined
        stop.then((off) => off(), onError)
        topics.clear()
      }
    },
    offer (build) {
      // once per outage, not once per sample (Redis away: the store's health check says the rest)
      feed.watched().then(async (watched) => { if (watched) await feed.publish(build()) }).then(() => { failing = false }, (err: unknown) => {
        if (!failing) onError(err)
        failing = true
      })
    },
    merge (local, localTopics) {
      const now = Date.now()
      const workers: WorkerRates[] = [ratesOf(local)]
      for (const [worker, l] of latest) {
        if (now - l.at > staleMs) latest.delete(worker)
        else workers.push(l.rates)
      }
      const named: WorkerTopic[] = localTopics.map((t) => ({ ...t, worker: local.worker }))
      named.push(...topics.values())
      topics.clear()
      return { ...sum(local.ts, workers), topics: named, workers }
    },
    hello () {
      queued ??= inFlight.then(() => {
        queued = undefined
        const p = gatherHello()
        inFlight = p.catch(() => {})
        return p
      })
      return queued
    }
  }

  async function gatherHello (): Promise<ClusterHello> {
    const g = await cluster.gather<EventsPart>('events')
    const [mine, ...others] = g.parts
    const now = Date.now()
    // a worker not heard of yet (its frames start at its next sample) counts from the sample it answered with
    for (const p of others) {
      const last = p.data.history[p.data.history.length - 1]
      if (last !== undefined && !latest.has(p.worker)) latest.set(p.worker, { rates: { ...last, worker: p.worker }, at: now })
    }
    const denials = g.parts.flatMap((p) => p.data.denials.map((d) => ({ ...d, worker: p.worker })))
      .sort((a, b) => a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0)
    return {
      history: mergeHistories(mine?.data.history ?? [], others.map((p) => p.data.history), staleMs),
      denials: denials.slice(-MAX_DENIALS),
      workers: g.parts.map((p) => p.worker),
      missing: g.missing
    }
  }
}

/** the cluster's history at this worker's sample times: each other worker's latest sample at or before each
 * time (and not older than `staleMs`) added to this worker's */
export function mergeHistories (mine: readonly RateSample[], others: ReadonlyArray<readonly RateSample[]>, staleMs: number): RateSample[] {
  const at = others.map(() => -1)
  return mine.map((s) => {
    const parts: RateSample[] = [s]
    others.forEach((h, i) => {
      let j = at[i] as number
      while (j + 1 < h.length && (h[j + 1] as RateSample).ts <= s.ts) j++
      at[i] = j
      const o = h[j]
      if (o !== undefined && s.ts - o.ts <= staleMs) parts.push(o)
    })
    return sum(s.ts, parts)
  })
}

function sum (ts: number, parts: readonly RateSample[]): RateSample {
  let clients = 0
  let received = 0
  let sent = 0
  for (const p of parts) { clients += p.clients; received += p.receivedPerSecond; sent += p.sentPerSecond }
  return { ts, clients, receivedPerSecond: round(received), sentPerSecond: round(sent) }
}

const round = (n: number): number => Math.round(n * 100) / 100

function ratesOf (f: WorkerRates): WorkerRates {
  return { worker: f.worker, ts: f.ts, clients: f.clients, receivedPerSecond: f.receivedPerSecond, sentPerSecond: f.sentPerSecond }
}

const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)

/** a frame from the feed (sent by a worker of this cluster: checked for shape only) */
function readFrame (raw: unknown): WorkerFrame | undefined {
  const f = raw as Partial<WorkerFrame>
  if (typeof f.worker !== 'string' || !num(f.ts) || !num(f.clients) || !num(f.receivedPerSecond) || !num(f.sentPerSecond)) return undefined
  if (!Array.isArray(f.topics) || !Array.isArray(f.denials)) return undefined
  return f as WorkerFrame
}
