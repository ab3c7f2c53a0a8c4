// Server-sent events for the dashboard: a `hello` with the recent history, then one `stats` event per
// sample (rates, counters of the registrations with traffic) carrying the refusals since the previous one.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AuditEvent } from '../audit/audit.js'
import type { ControlContext } from '../control/context.js'
import { round } from '../observe/topic-view.js'
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

interface TopicUpdate { filter: string, messages: number, messagesPerSecond: number, lastPublishAt: string | null }

export function createEventStreams (ctx: ControlContext, intervalMs: number): EventStreams {
  const open = new Map<ServerResponse, string | undefined>()
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
      send('hello', { brokerId: ctx.brokerId, intervalMs, history: ctx.sampler.history(), denials: ctx.denials.recent().slice(-MAX_DENIALS_PER_EVENT) })
      let pending: AuditEvent[] = []
      const offDenials = ctx.denials.subscribe((e) => {
        if (pending.length < MAX_DENIALS_PER_EVENT) pending.push(e)
      })
      const offSamples = ctx.sampler.onSample((sample) => {
        const emit = (): void => {
          const topics = topicUpdates(sample.ts)
          send('stats', { ...sample, receivedPerSecond: round(sample.receivedPerSecond), sentPerSecond: round(sample.sentPerSecond), topics, denials: pending })
          pending = []
        }
        if (alive === undefined) { emit(); return }
        // a session ended (here or on another worker), or a session store that does not answer, ends the stream
        alive().then((ok) => { if (!ok) res.end(); else if (!res.writableEnded) emit() }, () => res.end())
      })
      open.set(res, username)
      const stop = (): void => {
        offDenials()
        offSamples()
        open.delete(res)
      }
      req.on('close', stop)
      res.on('close', stop)
    },
    closeFor (usernames) {
      for (const [res, username] of open) if (username !== undefined && usernames.has(username)) res.end()
    },
    closeAll () {
      for (const res of open.keys()) res.end()
      open.clear()
    }
  }
}
