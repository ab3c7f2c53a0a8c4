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
  /** its connected clients' ids (this process) */
  readonly clients: readonly string[]
  readonly connected: boolean
  /** now when connected; else its last connect, disconnect or publish since `since` (null: none seen) */
  readonly lastSeen: string | null
  readonly lastPublishAt: string | null
  readonly messages: number
  readonly messagesPerSecond: number
  readonly lastRefusal: RefusalSummary | null
}

export interface Fleet {
  /** connected accounts first, then the others, each by name; at most `limit` of `total` */
  rows (limit: number): { total: number, accounts: FleetRow[] }
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
  const iso = (ms: number): string | null => ms > 0 ? new Date(ms).toISOString() : null
  return {
    since,
    rows (limit) {
      const clients = new Map<string, string[]>()
      for (const c of connectedClients(broker)) {
        const u = accountOf(c)
        if (u === undefined) continue
        let ids = clients.get(u)
        if (ids === undefined) clients.set(u, ids = [])
        ids.push(c.id)
      }
      const now = new Date().toISOString()
      const users = [...registry.state.users].sort((a, b) =>
        Number(clients.has(b.username)) - Number(clients.has(a.username)) || (a.username < b.username ? -1 : a.username > b.username ? 1 : 0))
      const accounts = users.slice(0, limit).map((user) => {
        const a = seen.get(user.username)
        const ids = clients.get(user.username) ?? []
        const r = a?.lastRefusal
        return {
          username: user.username,
          roles: user.roles,
          clients: ids.sort(),
          connected: ids.length > 0,
          lastSeen: ids.length > 0 ? now : iso(a?.lastSeenAt ?? 0),
          lastPublishAt: iso(a?.lastPublishAt ?? 0),
          messages: a?.messages ?? 0,
          messagesPerSecond: round(a?.rate ?? 0),
          lastRefusal: r === undefined ? null : { ts: r.ts, kind: r.kind, reason: r.reason, topic: r.topic ?? null }
        }
      })
      return { total: users.length, accounts }
    }
  }
}
