// The read commands whose answer depends on who is connected where: users' connections, topics' subscribers
// and counts, the fleet, the refusals. Alone, a worker answers from what it holds; in a cluster it asks every
// live worker for its part (observe/cluster-view.ts) and merges them: counts and rates summed, lists merged
// with each entry's worker named, and `workers` / `missing` saying whose parts the answer holds.
import type { AuditEvent } from '../audit/audit.js'
import type { ClusterView } from '../observe/cluster-view.js'
import { subscriptionsOf } from '../observe/client-view.js'
import type { AccountActivity, ClusterFleetRow, FleetRow } from '../observe/fleet.js'
import type { RecentMessage } from '../observe/recent-messages.js'
import { round, viewTopics, type TopicView } from '../observe/topic-view.js'
import { checkFilter, filtersIntersect, matchTopic } from '../policy/topic.js'
import { connectedClients } from '../registry/live-rules.js'
import type { ControlContext } from './context.js'

type Fields = Record<string, unknown>

/** whose parts a cluster's answer holds; absent when the broker runs alone */
export interface Coverage { readonly workers?: readonly string[], readonly missing?: readonly string[] }

export interface Subscriber { readonly clientId: string, readonly username: string | null, readonly filter: string, readonly worker?: string }

/** what each worker holds of a topic: counted on it alone */
interface TopicPart {
  readonly filter: string
  readonly subscribers: number
  readonly messages: number
  readonly bytes: number
  readonly messagesPerSecond: number
  readonly lastPublishAt: string | null
  /** a topic's page: its subscribers and recent messages on this worker */
  readonly subscribedBy?: readonly Subscriber[]
  readonly recent?: readonly RecentMessage[]
}

/** a topic as its page shows it: `recent` is every message kept, whoever may read it (the caller filters) */
export type TopicPageView = TopicView & { readonly subscribedBy: Subscriber[], readonly recent: readonly RecentMessage[] | undefined }

interface DenialsPart {
  readonly since: string
  readonly counts: Record<string, number>
  readonly byUser: Record<string, number>
  readonly recent: AuditEvent[]
}

interface FleetPart { readonly since: string, readonly accounts: AccountActivity[] }

/** how this worker answers the others' asks for these parts */
export function answerForCluster (ctx: ControlContext, cluster: ClusterView): void {
  cluster.handle('users', async () => Object.fromEntries(localConnectionsByUser(ctx)))
  cluster.handle('topics', async (p) => localTopicParts(ctx, typeof p.filter === 'string' ? p.filter : undefined, p.page === true))
  cluster.handle('denials', async (p) => localDenials(ctx, p))
  cluster.handle('fleet', async (): Promise<FleetPart> => ({ since: ctx.fleet.since, accounts: ctx.fleet.activity() }))
}

/** connected clients per account, on every worker */
export async function connectionsByUser (ctx: ControlContext): Promise<{ counts: Map<string, number> } & Coverage> {
  if (ctx.cluster === undefined) return { counts: localConnectionsByUser(ctx) }
  const g = await ctx.cluster.gather<Record<string, number>>('users')
  const counts = new Map<string, number>()
  for (const p of g.parts) for (const [u, n] of Object.entries(p.data)) counts.set(u, (counts.get(u) ?? 0) + n)
  return { counts, workers: g.parts.map((p) => p.worker), missing: g.missing }
}

/** the registered topics (or the one `filter`), with subscribers, counts and rates summed over the workers */
export async function topicViews (ctx: ControlContext, filter?: string): Promise<{ views: TopicView[] } & Coverage> {
  return await gatherTopics(ctx, filter, false)
}

/** one topic's page: also the clients subscribed to it and the messages kept, from every worker, each client
 * with its worker */
export async function topicPageView (ctx: ControlContext, filter: string): Promise<{ view: TopicPageView | undefined } & Coverage> {
  const { views, ...coverage } = await gatherTopics(ctx, filter, true)
  return { view: views[0] as TopicPageView | undefined, ...coverage }
}

async function gatherTopics (ctx: ControlContext, filter: string | undefined, page: boolean): Promise<{ views: TopicView[] } & Coverage> {
  const topics = filter === undefined ? ctx.registry.state.topics : ctx.registry.state.topics.filter((t) => t.filter === filter)
  if (ctx.cluster === undefined) {
    const views = viewTopics(topics, ctx.rules.meters, ctx.sampler, ctx.broker, ctx.hooks)
    return { views: page ? views.map((v) => ({ ...v, subscribedBy: subscribersOf(ctx, v.filter), recent: ctx.recent.of(v.filter) })) : views }
  }
  const g = await ctx.cluster.gather<TopicPart[]>('topics', { ...filter === undefined ? {} : { filter }, page })
  const byFilter = new Map<string, TopicPart[]>()
  for (const p of g.parts) {
    for (const t of p.data) {
      const named = t.subscribedBy === undefined ? t : { ...t, subscribedBy: t.subscribedBy.map((s) => ({ ...s, worker: p.worker })) }
      let l = byFilter.get(t.filter)
      if (l === undefined) byFilter.set(t.filter, l = [])
      l.push(named)
    }
  }
  const views = topics.map((t) => {
    const parts = byFilter.get(t.filter) ?? []
    const sum = (f: (p: TopicPart) => number): number => parts.reduce((n, p) => n + f(p), 0)
    const last = parts.reduce<string | null>((l, p) => p.lastPublishAt !== null && (l === null || p.lastPublishAt > l) ? p.lastPublishAt : l, null)
    const view: TopicView = {
      filter: t.filter,
      owners: t.owners,
      schema: t.schema ?? null,
      subscribers: sum((p) => p.subscribers),
      messages: sum((p) => p.messages),
      bytes: sum((p) => p.bytes),
      // each worker's rate is of the publishes its own clients made: the topic's rate is their sum
      messagesPerSecond: round(sum((p) => p.messagesPerSecond)),
      lastPublishAt: last
    }
    if (!page) return view
    // each worker keeps the messages its own clients published: the latest of them all
    const recent = ctx.recent.enabled
      ? parts.flatMap((p) => p.recent ?? []).sort((a, b) => compare(a.ts, b.ts)).slice(-ctx.recent.perTopic)
      : undefined
    const subscribedBy = parts.flatMap((p) => p.subscribedBy ?? [])
      .sort((a, b) => a.clientId.localeCompare(b.clientId) || compare(a.worker ?? '', b.worker ?? ''))
    return { ...view, subscribedBy, recent }
  })
  return { views, workers: g.parts.map((p) => p.worker), missing: g.missing }
}

export interface DenialsAnswer extends Coverage {
  readonly total: number
  readonly byReason: Record<string, number>
  readonly byUser: Record<string, number>
  readonly since: string
  readonly recent: Array<AuditEvent & { worker?: string }>
}

/** the refusals counted since start, and the latest ones matching `f`'s filters (oldest first, the last `limit`);
 * in a cluster every worker's, summed and merged by time, each named by its worker */
export async function denials (ctx: ControlContext, f: Fields): Promise<DenialsAnswer> {
  const answer = (parts: ReadonlyArray<{ worker?: string, data: DenialsPart }>): DenialsAnswer => {
    // no prototype: a refused username such as __proto__ or constructor is a key like any other
    const byReason: Record<string, number> = Object.create(null)
    const byUser: Record<string, number> = Object.create(null)
    for (const { data } of parts) {
      for (const [k, n] of Object.entries(data.counts)) byReason[k] = (byReason[k] ?? 0) + n
      for (const [k, n] of Object.entries(data.byUser)) byUser[k] = (byUser[k] ?? 0) + n
    }
    const recent = parts.flatMap(({ worker, data }) => worker === undefined ? data.recent : data.recent.map((e) => ({ ...e, worker })))
    // stable: a worker's own order is kept between refusals of the same millisecond
    recent.sort((a, b) => compare(a.ts, b.ts))
    const limit = f.limit as number | undefined
    return {
      total: Object.values(byReason).reduce((a, b) => a + b, 0),
      byReason,
      byUser,
      since: parts.map((p) => p.data.since).reduce((a, b) => a < b ? a : b),
      recent: limit === undefined ? recent : recent.slice(-limit)
    }
  }
  if (ctx.cluster === undefined) return answer([{ data: localDenials(ctx, f) }])
  const g = await ctx.cluster.gather<DenialsPart>('denials', f)
  return { ...answer(g.parts), workers: g.parts.map((p) => p.worker), missing: g.missing }
}

type FleetAnswer = { since: string, total: number, accounts: FleetRow[] | ClusterFleetRow[] } & Coverage

/** the fleet (connected accounts first, at most `limit`); in a cluster every worker's activity merged */
export async function fleet (ctx: ControlContext, limit: number): Promise<FleetAnswer> {
  if (ctx.cluster === undefined) return { since: ctx.fleet.since, ...ctx.fleet.rows(limit) }
  const g = await ctx.cluster.gather<FleetPart>('fleet')
  // counted since the first worker started: each worker counts from its own start
  const since = g.parts.map((p) => p.data.since).reduce((a, b) => a < b ? a : b)
  return { since, ...ctx.fleet.clusterRows(limit, g.parts), workers: g.parts.map((p) => p.worker), missing: g.missing }
}

function localConnectionsByUser (ctx: ControlContext): Map<string, number> {
  const n = new Map<string, number>()
  for (const c of connectedClients(ctx.broker)) {
    const u = ctx.hooks.policyOf(c)?.identity.username
    if (u !== undefined) n.set(u, (n.get(u) ?? 0) + 1)
  }
  return n
}

function localTopicParts (ctx: ControlContext, filter: string | undefined, page: boolean): TopicPart[] {
  const topics = filter === undefined ? ctx.registry.state.topics : ctx.registry.state.topics.filter((t) => t.filter === filter)
  return viewTopics(topics, ctx.rules.meters, ctx.sampler, ctx.broker, ctx.hooks).map((v) => ({
    filter: v.filter,
    subscribers: v.subscribers,
    messages: v.messages,
    bytes: v.bytes,
    messagesPerSecond: v.messagesPerSecond,
    lastPublishAt: v.lastPublishAt,
    ...page ? { subscribedBy: subscribersOf(ctx, v.filter), recent: ctx.recent.of(v.filter) ?? [] } : {}
  }))
}

function localDenials (ctx: ControlContext, f: Fields): DenialsPart {
  return {
    since: new Date(ctx.startedAt).toISOString(),
    counts: Object.fromEntries(ctx.audit.counts),
    byUser: Object.fromEntries(ctx.audit.byUser),
    recent: filterDenials(ctx.denials.recent(), f)
  }
}

/** the recent refusals matching every filter given: account, reason, kind, topic (an MQTT filter, or a part of the topic) */
function filterDenials (events: AuditEvent[], f: Fields): AuditEvent[] {
  const text = (k: string): string | undefined => f[k] === undefined ? undefined : String(f[k])
  const username = text('username')
  const reason = text('reason')
  const kind = text('kind')
  const topic = text('topic')
  const byFilter = topic !== undefined && checkFilter(topic) === null && /[+#]/.test(topic)
  const out = events.filter((e) =>
    (username === undefined || (e.username ?? '') === username) &&
    (reason === undefined || e.reason === reason) &&
    (kind === undefined || e.kind === kind) &&
    (topic === undefined || (e.topic !== undefined && (byFilter ? matchTopic(topic, e.topic) : e.topic.includes(topic)))))
  const limit = typeof f.limit === 'number' ? f.limit : undefined
  return limit === undefined ? out : out.slice(-limit)
}

function subscribersOf (ctx: ControlContext, filter: string): Subscriber[] {
  const wide = filter.split('/').map((l) => l.includes('{') ? '+' : l).join('/')
  const out: Subscriber[] = []
  for (const c of connectedClients(ctx.broker)) {
    const policy = ctx.hooks.policyOf(c)
    if (policy === undefined) continue
    for (const s of subscriptionsOf(c)) {
      if (filtersIntersect(s.filter, wide) && policy.reader.canSubscribe(wide)) {
        out.push({ clientId: c.id, username: policy.identity.username ?? null, filter: s.filter })
        break
      }
    }
  }
  return out.sort((a, b) => a.clientId.localeCompare(b.clientId))
}

function compare (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
