// The fleet, one row per account: connected clients, last seen, messages and their rate, last refusal.
// Fed by aedes's `publish` event (one Map lookup per accepted message), the connect/disconnect events and
// the audit; rates are computed at each sample for the accounts that moved. Counts start with the process
// (`since`); only accounts the registry holds are tracked, so refusals of guessed names cost nothing here.
import type { Aedes, Client } from 'aedes'
import type { AuditEvent } from '../audit/audit.js'
import type { WardenHooks } from '../hooks/hooks.js'
import type { Registry } from '../registry/registry.js'
import { connectedClients } from '../registry/live-rules.js'
import type { Sampler } from './sampler.js'
import { round } from './topic-view.js'

/** rates are averaged over this many samples, as the sampler's are */
const WINDOW = 5

interface Activity {
  messages: number
  /** [sample time, messages then], oldest first, while it moves: up to WINDOW + 1 */
  ring: Array<readonly [number, number]>
  rate: number
  lastPublishAt: number
  lastSeenAt: number
  lastRefusal: AuditEvent | undefined
}

export interface RefusalSummary { readonly ts: string, readonly kind: string, readonly reason: string, readonly topic: string | null }

export interface FleetRow {
  readonly username: string
  readonly roles: readonly string[]
  /** its connected clients' ids (on every worker of a cluster) */
  readonly clients: readonly string[]
  readonly connected: boolean
  /** now when connected; else its last connect, disconnect or publish since `since` (null: none seen) */
  readonly lastSeen: string | null
  readonly lastPublishAt: string | null
  readonly messages: number
  readonly messagesPerSecond: number
  readonly lastRefusal: RefusalSummary | null
}

/** one account's activity on one worker, as another worker asks for it (JSON) */
export interface AccountActivity {
  readonly username: string
  readonly clients: readonly string[]
  readonly lastSeenAt: number
  readonly lastPublishAt: number
  readonly messages: number
  readonly rate: number
  readonly lastRefusal: RefusalSummary | null
}

/** a cluster's answer: each row names the worker of each connected client */
export interface ClusterFleetRow extends FleetRow {
  readonly connections: ReadonlyArray<{ readonly clientId: string, readonly worker: string }>
}

export interface WorkerActivity { readonly worker: string, readonly data: { readonly since: string, readonly accounts: readonly AccountActivity[] } }

export interface Fleet {
  /** connected accounts first, then the others, each by name; at most `limit` of `total` */
  rows (limit: number): { total: number, accounts: FleetRow[] }
  /** the same over several workers' activity (this one's included): counts and rates summed, an account
   * connected on any worker is connected */
  clusterRows (limit: number, parts: readonly WorkerActivity[]): { total: number, accounts: ClusterFleetRow[] }
  /** this worker's accounts that connected, published or were refused since it started (what `clusterRows` takes) */
  activity (): AccountActivity[]
  /** when counting started (the process's start): nothing before it is known */
  readonly since: string
}

export interface FleetDeps {
  broker: Aedes
  hooks: WardenHooks
  registry: Registry
  sampler: Sampler
  onRecord: (listener: (event: AuditEvent) => void) => void
}

export function createFleet ({ broker, hooks, registry, sampler, onRecord }: FleetDeps): Fleet {
  const since = new Date().toISOString()
  const seen = new Map<string, Activity>()
  /** the registry's account names: a refusal of a guessed name finds nothing here at the cost of one lookup */
  let known = new Set(registry.state.users.map((u) => u.username))
  const moving = new Set<string>()
  let lastSampleAt = Date.now()
  // per message, the time of the last sample (stats.intervalMs) stands for now: no clock read per message
  let clock = lastSampleAt
  const of = (username: string): Activity | undefined => {
    let a = seen.get(username)
    if (a === undefined) {
      if (!known.has(username)) return undefined
      a = { messages: 0, ring: [], rate: 0, lastPublishAt: 0, lastSeenAt: 0, lastRefusal: undefined }
      seen.set(username, a)
    }
    return a
  }
  const accountOf = (client: Client | null | undefined): string | undefined =>
    client == null ? undefined : hooks.policyOf(client)?.identity.username
  broker.on('publish', (_packet, client) => {
    const u = accountOf(client)
    if (u === undefined) return
    const a = of(u)
    if (a === undefined) return
    // it starts moving: counted from the count at the previous sample
    if (a.ring.length === 0) {
      a.ring.push([lastSampleAt, a.messages])
      moving.add(u)
    }
    a.messages++
    a.lastPublishAt = a.lastSeenAt = clock
  })
  const touch = (client: Client): void => {
    const u = accountOf(client)
    const a = u === undefined ? undefined : of(u)
    if (a !== undefined) a.lastSeenAt = Date.now()
  }
  broker.on('clientReady', touch)
  broker.on('clientDisconnect', touch)
  onRecord((e) => {
    const a = e.username === undefined ? undefined : of(e.username)
    if (a !== undefined) a.lastRefusal = e
  })
  sampler.onSample((s) => {
    lastSampleAt = clock = s.ts
    for (const u of moving) {
      const a = seen.get(u)
      if (a === undefined) { moving.delete(u); continue }
      a.ring.push([s.ts, a.messages])
      if (a.ring.length > WINDOW + 1) a.ring.shift()
      const [t0, m0] = a.ring[0] as readonly [number, number]
      a.rate = s.ts > t0 ? (a.messages - m0) * 1000 / (s.ts - t0) : 0
      // nothing over the whole window: quiet again, until its next message
      if (a.rate === 0) { moving.delete(u); a.ring = [] }
    }
  })
  registry.onChange((_prev, next) => {
    known = new Set(next.users.map((u) => u.username))
    for (const u of seen.keys()) if (!known.has(u)) { seen.delete(u); moving.delete(u) }
  })
  const clientsByAccount = (): Map<string, string[]> => {
    const clients = new Map<string, string[]>()
    for (const c of connectedClients(broker)) {
      const u = accountOf(c)
      if (u === undefined) continue
      let ids = clients.get(u)
      if (ids === undefined) clients.set(u, ids = [])
      ids.push(c.id)
    }
    return clients
  }
  const activity = (): AccountActivity[] => {
    const clients = clientsByAccount()
    const out: AccountActivity[] = []
    for (const u of new Set([...seen.keys(), ...clients.keys()])) {
      const a = seen.get(u)
      const r = a?.lastRefusal
      out.push({
        username: u,
        clients: clients.get(u) ?? [],
        lastSeenAt: a?.lastSeenAt ?? 0,
        lastPublishAt: a?.lastPublishAt ?? 0,
        messages: a?.messages ?? 0,
        rate: a?.rate ?? 0,
        lastRefusal: r === undefined ? null : { ts: r.ts, kind: r.kind, reason: r.reason, topic: r.topic ?? null }
      })
    }
    return out
  }
  const build = <R extends FleetRow>(limit: number, parts: readonly WorkerActivity[], named: boolean): { total: number, accounts: R[] } => {
    const merged = mergeActivity(parts)
    const now = new Date().toISOString()
    const connected = (u: string): boolean => (merged.get(u)?.connections.length ?? 0) > 0
    const users = [...registry.state.users].sort((a, b) =>
      Number(connected(b.username)) - Number(connected(a.username)) || (a.username < b.username ? -1 : a.username > b.username ? 1 : 0))
    const accounts = users.slice(0, limit).map((user) => {
      const m = merged.get(user.username)
      const conns = [...m?.connections ?? []].sort((x, y) => x.clientId < y.clientId ? -1 : x.clientId > y.clientId ? 1 : 0)
      const row: FleetRow = {
        username: user.username,
        roles: user.roles,
        clients: conns.map((c) => c.clientId),
        connected: conns.length > 0,
        lastSeen: conns.length > 0 ? now : iso(m?.lastSeenAt ?? 0),
        lastPublishAt: iso(m?.lastPublishAt ?? 0),
        messages: m?.messages ?? 0,
        messagesPerSecond: round(m?.rate ?? 0),
        lastRefusal: m?.lastRefusal ?? null
      }
      return (named ? { ...row, connections: conns } : row) as R
    })
    return { total: users.length, accounts }
  }
  return {
    since,
    activity,
    rows: (limit) => build<FleetRow>(limit, [{ worker: '', data: { since, accounts: activity() } }], false),
    clusterRows: (limit, parts) => build<ClusterFleetRow>(limit, parts, true)
  }
}

interface Merged {
  connections: Array<{ clientId: string, worker: string }>
  lastSeenAt: number
  lastPublishAt: number
  messages: number
  rate: number
  lastRefusal: RefusalSummary | null
}

/** per account: every worker's clients, counts and rates summed, the latest times and refusal */
function mergeActivity (parts: readonly WorkerActivity[]): Map<string, Merged> {
  const out = new Map<string, Merged>()
  for (const { worker, data } of parts) {
    for (const a of data.accounts) {
      let m = out.get(a.username)
      if (m === undefined) out.set(a.username, m = { connections: [], lastSeenAt: 0, lastPublishAt: 0, messages: 0, rate: 0, lastRefusal: null })
      for (const clientId of a.clients) m.connections.push({ clientId, worker })
      m.lastSeenAt = Math.max(m.lastSeenAt, a.lastSeenAt)
      m.lastPublishAt = Math.max(m.lastPublishAt, a.lastPublishAt)
      m.messages += a.messages
      m.rate += a.rate
      if (a.lastRefusal !== null && (m.lastRefusal === null || a.lastRefusal.ts > m.lastRefusal.ts)) m.lastRefusal = a.lastRefusal
    }
  }
  return out
}

function iso (ms: number): string | null {
  return ms > 0 ? new Date(ms).toISOString() : null
}
