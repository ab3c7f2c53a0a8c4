// Server-sent events for the dashboard: a `hello` with the recent history, then one `stats` event per
// sample (rates, counters of the registrations with traffic) carrying the refusals since the previous one.
// In a cluster, every worker's (http/cluster-events.ts): rates summed, each refusal and registration named
// by its worker, a line per worker in `workers`.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AuditEvent } from '../audit/audit.js'
import type { ControlContext } from '../control/context.js'
import type { RateSample } from '../observe/sampler.js'
import { round } from '../observe/topic-view.js'
import { createClusterEvents, type ClusterEvents, type EventsPart, type TopicUpdate } from './cluster-events.js'
import { SECURITY_HEADERS } from './respond.js'

const MAX_DENIALS_PER_EVENT = 50
/** a reader this far behind misses samples instead of growing the broker's memory */
const MAX_BUFFERED = 1024 * 1024

export interface EventStreams {
  /** `username`: the account the stream was opened with (undefined: anonymous); `alive`: its dashboard
   * session still holds (asked at each sample; the stream ends once it does not) */
  open (req: IncomingMessage, res: ServerResponse, username: string | undefined, alive?: () => Promise<boolean>): void
  readonly count: number
  /** ends the streams of these accounts (removed or changed: a browser reconnects and logs in again) */
  closeFor (usernames: ReadonlySet<string>): void
  closeAll (): void
}

type Denial = AuditEvent & { worker?: string }
/** one sample as every stream of this worker sends it (the refusals are each stream's own) */
type Stats = RateSample & { topics: TopicUpdate[], workers?: unknown[] }

/** what the dashboard dedupes on, and the worker: a refusal in the hello is not sent again in a sample */
const denialKey = (d: Denial): string => JSON.stringify([d.worker, d.ts, d.kind, d.reason, d.username, d.clientId, d.topic, d.detail])

export function createEventStreams (ctx: ControlContext, intervalMs: number): EventStreams {
  /** each stream, and what it does at a sample */
  const open = new Map<ServerResponse, { username: string | undefined, onSample: (s: Stats) => void }>()
  // per sample, only registrations with traffic (or whose rate just fell to 0): thousands of quiet
  // registrations cost nothing per second. Computed once per sample for every stream.
  /** registrations last reported with a non-zero rate */
  const moving = new Set<string>()
  let updates: { ts: number, topics: TopicUpdate[] } = { ts: 0, topics: [] }
  const topicUpdates = (ts: number): TopicUpdate[] => {
    if (updates.ts === ts) return updates.topics
    const topics: TopicUpdate[] = []
    for (const filter of new Set([...ctx.sampler.activeTopics(), ...moving])) {
      const m = ctx.rules.meters.get(filter)
      const rate = m === undefined ? 0 : round(ctx.sampler.topicRate(filter))
      const wasActive = moving.delete(filter)
      if (rate !== 0) moving.add(filter)
      // a rate that falls to 0 is sent once more, then the registration is quiet again
      if (m === undefined || (rate === 0 && !wasActive)) continue
      topics.push({ filter, messages: m.messages, messagesPerSecond: rate, lastPublishAt: m.lastAt > 0 ? new Date(m.lastAt).toISOString() : null })
    }
    updates = { ts, topics }
    return topics
  }
  const rates = (s: RateSample): RateSample => ({ ...s, receivedPerSecond: round(s.receivedPerSecond), sentPerSecond: round(s.sentPerSecond) })

  const cluster = clusterSide(ctx, intervalMs, topicUpdates)
  ctx.sampler.onSample((sample) => {
    const worker = ctx.cluster?.brokerId
    if (cluster !== undefined && worker !== undefined) cluster.offer(sample)
    if (open.size === 0) return
    const topics = topicUpdates(sample.ts)
    const stats: Stats = cluster === undefined || worker === undefined
      ? { ...rates(sample), topics }
      : cluster.events.merge({ ...rates(sample), worker }, topics)
    for (const s of open.values()) s.onSample(stats)
  })

  return {
    get count () { return open.size },
    open (req, res, username, alive) {
      res.writeHead(200, {
        ...SECURITY_HEADERS,
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-accel-buffering': 'no'
      })
      res.flushHeaders()
      const send = (event: string, data: unknown): void => {
        if (res.writableLength > MAX_BUFFERED) return
        res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
      }
      const worker = ctx.cluster?.brokerId
      let pending: Denial[] = []
      const add = (ds: readonly Denial[]): void => {
        for (const d of ds) if (pending.length < MAX_DENIALS_PER_EVENT && !sentInHello.has(denialKey(d))) pending.push(d)
      }
      /** the refusals the hello carried: the first samples may bring them again (a cluster's hello is gathered) */
      let sentInHello = new Set<string>()
      let samplesSinceHello = -1
      let stopped = false
      const offDenials = ctx.denials.subscribe((e) => { add([worker === undefined ? e : { ...e, worker }]) })
      let offFeed = (): void => {}
      const onSample = (stats: Stats): void => {
        if (samplesSinceHello < 0) return
        // a worker's frame may carry refusals its answer to the hello held: for a few samples they are left out
        if (++samplesSinceHello > 3) sentInHello = new Set()
        const emit = (): void => {
          send('stats', { ...stats, denials: pending })
          pending = []
        }
        if (alive === undefined) { emit(); return }
        // a session ended (here or on another worker), or a session store that does not answer, ends the stream
        alive().then((ok) => { if (!ok) res.end(); else if (!res.writableEnded) emit() }, () => res.end())
      }
      open.set(res, { username, onSample })
      const stop = (): void => {
        stopped = true
        offDenials()
        offFeed()
        open.delete(res)
      }
      req.on('close', stop)
      res.on('close', stop)
      const hello = (h: { history: RateSample[], denials: Denial[], workers?: readonly string[], missing?: readonly string[] }): void => {
        sentInHello = new Set(h.denials.map(denialKey))
        pending = pending.filter((d) => !sentInHello.has(denialKey(d)))
        send('hello', { brokerId: ctx.brokerId, intervalMs, ...h })
        samplesSinceHello = 0
      }
      if (cluster === undefined) {
        hello({ history: ctx.sampler.history(), denials: ctx.denials.recent().slice(-MAX_DENIALS_PER_EVENT) })
        return
      }
      // listening to the others before asking them: a refusal made meanwhile is in the answer or in a frame
      cluster.events.follow(add).then(async (off) => {
        if (stopped) { off(); return }
        offFeed = off
        hello(await cluster.events.hello())
      }).catch((err: unknown) => {
        ctx.logger.warn({ err }, 'the other workers\' part of an event stream is not available: this worker\'s alone')
        if (!stopped && samplesSinceHello < 0) {
          hello({ history: ctx.sampler.history(), denials: ctx.denials.recent().slice(-MAX_DENIALS_PER_EVENT).map((e) => ({ ...e, worker })) })
        }
      })
    },
    closeFor (usernames) {
      for (const [res, s] of open) if (s.username !== undefined && usernames.has(s.username)) res.end()
    },
    closeAll () {
      for (const res of open.keys()) res.end()
      open.clear()
    }
  }
}

/** a cluster: this worker's frames offered to the others' streams, and its answer to a stream opening elsewhere */
function clusterSide (
  ctx: ControlContext, intervalMs: number, topicUpdates: (ts: number) => TopicUpdate[]
): { events: ClusterEvents, offer: (s: RateSample) => void } | undefined {
  const cluster = ctx.cluster
  if (cluster === undefined) return undefined
  const events = createClusterEvents(cluster, intervalMs, (err) => ctx.logger.warn({ err }, 'live frames of the cluster failed'))
  cluster.handle('events', async (): Promise<EventsPart> => ({ history: ctx.sampler.history(), denials: ctx.denials.recent().slice(-MAX_DENIALS_PER_EVENT) }))
  // this worker's refusals since its last frame, for the others' streams
  let since: AuditEvent[] = []
  ctx.denials.subscribe((e) => { if (since.length < MAX_DENIALS_PER_EVENT) since.push(e) })
  const offer = (s: RateSample): void => {
    // taken at every sample, watched or not: a frame carries the refusals of its interval only
    const denials = since
    since = []
    events.offer(() => ({
      ...s, receivedPerSecond: round(s.receivedPerSecond), sentPerSecond: round(s.sentPerSecond), worker: cluster.brokerId, topics: topicUpdates(s.ts), denials
    }))
  }
  return { events, offer }
}
