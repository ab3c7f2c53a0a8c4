// `warden status`, `warden clients`, `warden fleet`, `warden denials`, `warden groups`: what the broker sees now, read-only
// (admins and observers). Tables for people, --json for the API's data.
import { limitOf, limitQuery, none, noteShown, print, yesNo, type CliCommand } from './command.js'
import { formatDuration, formatPairs, formatTable } from './table.js'

interface StatusView {
  brokerId: string, uptimeSeconds: number, listeners: { mqtt: string, http: string }, persistence: string, registry: { backend: string, revision: number }
  clients: number, subscriptions: number, users: number, topics: number
  messages: { received: number, sent: number, receivedPerSecond: number, sentPerSecond: number }, denials: { total: number, byReason: Record<string, number> }
  /** several workers on one Redis */
  cluster?: {
    workers: Array<{ worker: string, uptimeSeconds: number, clients: number, messages: { received: number, sent: number } }>
    missing: string[], clients: number, messages: { received: number, sent: number }, denials: number
  }
}
interface ClientView {
  clientId: string, username: string | null, address: string | null, connectedAt: string | null, clean: boolean, subscriptions: unknown[], queuedBytes: number
  worker?: string
}
interface DenialView {
  /** a cluster: the worker that refused */
  worker?: string
  ts: string, kind: string, reason: string, username?: string, clientId?: string, address?: string, topic?: string, detail?: string, suppressed?: number
}
interface DenialsView { total: number, byReason: Record<string, number>, byUser: Record<string, number>, recent: DenialView[], missing?: string[] }
interface FleetRow {
  username: string, clients: string[], connected: boolean, lastSeen: string | null, messages: number, messagesPerSecond: number
  lastRefusal: { ts: string, kind: string, reason: string, topic: string | null } | null
  /** a cluster: each connected client's worker */
  connections?: Array<{ clientId: string, worker: string }>
}
interface MemberView {
  clientId: string, qos: number, persistent: boolean, connected: boolean, delivered: number, inflight: number
  /** a cluster: the worker it is connected to (null while offline) */
  worker?: string | null
}
interface GroupView {
  group: string, filter: string, members: MemberView[], delivered: number, redelivered: number, queued: number, dropped: number, waiting: number
}

const LIMIT = { values: ['limit'] }
const LIMIT_DETAIL = '--limit N  at most N rows (the API\'s default is 1000)'

/** `a 3, b 1`: counts, largest first */
function tally (counts: Record<string, number>, label = (k: string): string => k): string {
  return Object.entries(counts).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${label(k)} ${n}`).join(', ')
}

export const READ_COMMANDS: Readonly<Record<string, CliCommand>> = {
  status: {
    args: '',
    summary: 'the broker at a glance',
    async run (ctx) {
      none(ctx.p)
      const s = await ctx.api('GET', '/api/v1/status') as StatusView
      print(ctx, s, () => formatPairs([
        ['broker', s.brokerId],
        ['uptime', formatDuration(s.uptimeSeconds)],
        ['mqtt', s.listeners.mqtt],
        ['http', s.listeners.http],
        ['persistence', `${s.persistence} (registry: ${s.registry.backend}, revision ${s.registry.revision})`],
        ['clients', `${s.clients} (${s.subscriptions} subscriptions)`],
        ['users', String(s.users)],
        ['topics', String(s.topics)],
        ['messages', `in ${s.messages.received} (${s.messages.receivedPerSecond.toFixed(1)}/s), ` +
          `out ${s.messages.sent} (${s.messages.sentPerSecond.toFixed(1)}/s)`],
        ['denials', s.denials.total === 0 ? '0' : `${s.denials.total} (${tally(s.denials.byReason)})`],
        ...s.cluster === undefined ? [] : clusterPairs(s.cluster)
      ]))
      noteMissing(ctx, s.cluster?.missing)
    }
  },
  clients: {
    args: '[--limit N]',
    summary: 'connected clients: account, address, subscriptions, backlog',
    details: [LIMIT_DETAIL],
    spec: LIMIT,
    async run (ctx) {
      none(ctx.p)
      const data = await ctx.api('GET', '/api/v1/clients' + limitQuery(ctx.p)) as { total: number, clients: ClientView[], missing?: string[] }
      // a cluster: every worker's clients, with a WORKER column
      const clustered = data.missing !== undefined
      print(ctx, data, () => formatTable(
        [...clustered ? ['WORKER'] : [], 'CLIENT ID', 'USERNAME', 'ADDRESS', 'CLEAN', 'SUBSCRIPTIONS', 'QUEUED BYTES', 'CONNECTED AT'],
        data.clients.map((c) => [
          ...clustered ? [c.worker ?? '-'] : [],
          c.clientId, c.username ?? '(anonymous)', c.address ?? '-', yesNo(c.clean), String(c.subscriptions.length), String(c.queuedBytes), c.connectedAt ?? '-'
        ])))
      noteShown(ctx, data.clients.length, data.total)
      noteMissing(ctx, data.missing)
    }
  },
  fleet: {
    args: '[--limit N]',
    summary: 'one row per account: connected, last seen, messages, rate, last refusal',
    details: [LIMIT_DETAIL + '; connected accounts first'],
    spec: LIMIT,
    async run (ctx) {
      none(ctx.p)
      const data = await ctx.api('GET', '/api/v1/fleet' + limitQuery(ctx.p)) as { since: string, total: number, accounts: FleetRow[], missing?: string[] }
      // a cluster: counts summed over the workers, and the workers its clients are on
      const clustered = data.missing !== undefined
      const workers = (a: FleetRow): string => [...new Set((a.connections ?? []).map((c) => c.worker))].sort().join(',') || '-'
      print(ctx, data, () => formatTable(['ACCOUNT', 'CONNECTED', ...clustered ? ['WORKERS'] : [], 'LAST SEEN', 'MESSAGES', 'MSG/S', 'LAST REFUSAL'],
        data.accounts.map((a) => [
          a.username, a.connected ? String(a.clients.length) : 'no', ...clustered ? [workers(a)] : [],
          a.lastSeen ?? '-', String(a.messages), a.messagesPerSecond.toFixed(1),
          a.lastRefusal === null ? '-' : `${a.lastRefusal.ts} ${a.lastRefusal.kind}: ${a.lastRefusal.reason} ${a.lastRefusal.topic ?? ''}`.trimEnd()
        ])) + `(counted since ${data.since}, when the ${clustered ? 'first worker' : 'broker'} started)\n`)
      noteShown(ctx, data.accounts.length, data.total)
      noteMissing(ctx, data.missing)
    }
  },
  denials: {
    args: '[--limit N] [--account <u>] [--reason <r>] [--kind <k>] [--topic <filter or text>]',
    summary: 'refusals: counts since start, and the latest ones (oldest first)',
    details: ['--limit N  only the N latest refusals (the broker keeps the last 1000 written to its audit log;',
      '           in a flood only a sample is written, and the next one says how many were left out)',
      '--account, --reason, --kind, --topic  only those refusals (--topic: an MQTT filter such as sensors/#, or part of a topic)'],
    spec: { values: ['limit', 'account', 'reason', 'kind', 'topic'] },
    async run (ctx) {
      none(ctx.p)
      const limit = limitOf(ctx.p) ?? Infinity
      const q = new URLSearchParams()
      for (const [opt, param] of [['account', 'username'], ['reason', 'reason'], ['kind', 'kind'], ['topic', 'topic']] as const) {
        const v = ctx.p.values.get(opt)?.[0]
        if (v !== undefined) q.set(param, v)
      }
      const query = q.size > 0 ? `?${q.toString()}` : ''
      const data = await ctx.api('GET', '/api/v1/denials' + query) as DenialsView
      const recent = data.recent.slice(-limit)
      // a cluster: every worker's refusals, with a WORKER column
      const clustered = data.missing !== undefined
      print(ctx, { ...data, recent }, () => {
        if (data.total === 0) return 'no refusals since the broker started\n'
        const table = formatTable(['TIME', ...clustered ? ['WORKER'] : [], 'KIND', 'REASON', 'USERNAME', 'CLIENT ID', 'ADDRESS', 'TOPIC'],
          recent.map((d) => [d.ts, ...clustered ? [d.worker ?? '-'] : [], d.kind, d.reason + (d.suppressed !== undefined ? ` (+${d.suppressed} left out)` : ''),
            d.username ?? '-', d.clientId ?? '-', d.address ?? '-', d.topic ?? d.detail ?? '-']))
        return `${table}\n${data.total} refused since start: ${tally(data.byReason)}\nby account: ${tally(data.byUser, (u) => u === '' ? '(anonymous)' : u)}\n`
      })
      noteMissing(ctx, data.missing)
    }
  },
  groups: {
    args: '',
    summary: 'consumer groups ($share/…): members, deliveries, backlog',
    async run (ctx) {
      none(ctx.p)
      const data = await ctx.api('GET', '/api/v1/groups') as { groups: GroupView[], missing?: string[] }
      // a cluster: one row per group, counts summed over the workers; each member's worker in a WORKER column
      const clustered = data.missing !== undefined
      print(ctx, data, () => {
        if (data.groups.length === 0) return 'no consumer groups\n'
        const groups = formatTable(['GROUP', 'FILTER', 'MEMBERS', 'DELIVERED', 'REDELIVERED', 'WAITING', 'DROPPED'],
          data.groups.map((g) => [
            g.group, g.filter, `${g.members.filter((m) => m.connected).length}/${g.members.length}`,
            String(g.delivered), String(g.redelivered), String(g.waiting), String(g.dropped)
          ]))
        const members = formatTable(['GROUP', 'FILTER', 'MEMBER', ...clustered ? ['WORKER'] : [], 'QOS', 'PERSISTENT', 'CONNECTED', 'DELIVERED', 'IN FLIGHT'],
          data.groups.flatMap((g) => g.members.map((m) => [
            g.group, g.filter, m.clientId, ...clustered ? [m.worker ?? '-'] : [],
            String(m.qos), yesNo(m.persistent), yesNo(m.connected), String(m.delivered), String(m.inflight)
          ])))
        return `${groups}\n${members}`
      })
      noteMissing(ctx, data.missing)
    }
  }
}

/** `warden status` of a cluster: the totals, then a line per worker */
function clusterPairs (c: NonNullable<StatusView['cluster']>): Array<[string, string]> {
  return [
    ['cluster', `${c.workers.length} workers: ${c.clients} clients, in ${c.messages.received}, out ${c.messages.sent}, ${c.denials} denials`],
    ...c.workers.map((w): [string, string] => [
      `  ${w.worker}`, `up ${formatDuration(w.uptimeSeconds)}, ${w.clients} clients, in ${w.messages.received}, out ${w.messages.sent}`
    ])
  ]
}

/** workers of a cluster that did not answer in time: their part is not in the output */
function noteMissing (ctx: Parameters<typeof noteShown>[0], missing: readonly string[] | undefined): void {
  if (missing === undefined || missing.length === 0) return
  ctx.io.stderr.write(`warden: no answer from worker${missing.length > 1 ? 's' : ''} ${missing.join(', ')}: not shown\n`)
}
