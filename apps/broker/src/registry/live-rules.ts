// Keeps the rules the hooks enforce (accounts, roles, ownership, connected clients' grants) in step with the registry.
import type { Aedes, Client } from 'aedes'
import type { Logger } from '@warden/common'
import { clientsOf } from '../aedes/accessors.js'
import { createUserDirectory, type Account, type UserDirectory } from '../auth/user-directory.js'
import type { WardenHooks } from '../hooks/hooks.js'
import type { TopicMeter } from '../policy/decision.js'
import { OwnershipPolicy, type Registration, type UnregisteredPolicy } from '../policy/ownership.js'
import type { ReplyNamespace } from '../policy/reply-topics.js'
import type { PayloadSchemas } from './payload-schema.js'
import type { RoleSource, RoleTable } from '../policy/read-rules.js'
import { roleTableOf, type Registry } from './registry.js'
import { keepsLogin, type RegistryState, type StoredRole, type StoredTopic, type StoredUser } from './types.js'

export interface LiveRules {
  readonly directory: UserDirectory
  readonly ownership: OwnershipPolicy
  /** counters per registration filter, carried by the registration's Allow decisions */
  readonly meters: ReadonlyMap<string, TopicMeter>
  /** the read grants of every role, as the registry has them now; clients re-read them when the version grows */
  readonly roles: RoleSource
  /** from now on, registry changes also reach connected clients */
  attach (broker: Aedes, hooks: WardenHooks): void
}

export interface LiveRulesOptions {
  anonymous: false | string
  /** limits.login.cacheTtlMs */
  cacheTtlMs?: number
  /** see UserDirectory: false behind a reverse proxy */
  trustLoopback: boolean
  unregistered: UnregisteredPolicy
  /** config `replies`: the MQTT 5 reply namespace (policy/reply-topics.ts) */
  replies?: ReplyNamespace | undefined
  schemas: PayloadSchemas
  logger: Logger
}

export function connectedClients (broker: Aedes): Client[] {
  return Object.values(clientsOf(broker)).filter((c): c is Client => c !== undefined)
}

export async function createLiveRules (
  registry: Registry, { anonymous, trustLoopback, unregistered, replies, schemas, logger, cacheTtlMs }: LiveRulesOptions
): Promise<LiveRules> {
  const meters = new Map<string, TopicMeter>()
  const toRegistration = (t: StoredTopic): Registration => {
    let meter = meters.get(t.filter)
    if (meter === undefined) {
      meter = { messages: 0, bytes: 0, lastAt: 0 }
      meters.set(t.filter, meter)
    }
    return { filter: t.filter, owners: t.owners, meter, ...(t.schema !== undefined ? { payload: schemas.check(t.schema) } : {}) }
  }
  const state = registry.state
  const directory = await createUserDirectory({ users: state.users, anonymous, trustLoopback, ...(cacheTtlMs !== undefined ? { cacheTtlMs } : {}) })
  const ownership = new OwnershipPolicy(state.topics.map(toRegistration), unregistered, replies)
  const roles: { table: RoleTable, version: number } = { table: roleTableOf(state), version: 0 }
  let broker: Aedes | undefined
  let hooks: WardenHooks | undefined

  /** Which connected clients must change: the new roles of changed accounts, null for those whose
   * connections end (account removed, or its password or loopback rule changed). */
  const apply = (prev: RegistryState, next: RegistryState): void => {
    const affected = new Map<string, readonly string[] | null>()
    const before = new Map(prev.users.map((u) => [u.username, u]))
    for (const u of next.users) {
      const old = before.get(u.username)
      before.delete(u.username)
      if (old !== undefined && sameUser(old, u)) continue
      directory.put(u)
      // the name deleted and created again (both seen in one reload): the old account's clients go; and a new
      // password revokes whoever logged in with the old one (it may be why it changed)
      if (old !== undefined && !keepsLogin(old, u)) affected.set(u.username, null)
      else if (old !== undefined && !sameList(old.roles, u.roles)) affected.set(u.username, u.roles)
    }
    for (const gone of before.keys()) {
      directory.remove(gone)
      affected.set(gone, null)
    }

    const oldTopics = new Map(prev.topics.map((t) => [t.filter, t]))
    for (const t of next.topics) {
      const old = oldTopics.get(t.filter)
      oldTopics.delete(t.filter)
      if (old === undefined || !sameTopic(old, t)) ownership.register(toRegistration(t))
    }
    for (const filter of oldTopics.keys()) {
      ownership.unregister(filter)
      meters.delete(filter)
    }
    schemas.retain(next.topics.flatMap((t) => t.schema !== undefined ? [t.schema] : []))

    // holders of a role whose grants changed read with the new grants from their next message on
    if (changedRoles(prev.roles, next.roles)) {
      roles.table = roleTableOf(next)
      roles.version++
    }
    if (affected.size > 0 && broker !== undefined) updateClients(broker, affected)
  }

  const updateClients = (b: Aedes, affected: ReadonlyMap<string, readonly string[] | null>): void => {
    for (const client of connectedClients(b)) {
      const username = hooks?.policyOf(client)?.identity.username
      if (username === undefined || !affected.has(username)) continue
      const roles = affected.get(username) ?? null
      hooks?.setRoles(client, roles)
      if (roles === null) {
        // without a policy nothing it sends is accepted, its will included; then it is disconnected
        logger.info({ clientId: client.id, username }, 'account removed or its login changed: disconnecting its client')
        client.close(() => {})
      }
    }
  }

  registry.onChange(apply)
  return {
    directory,
    ownership,
    meters,
    roles,
    attach (b, h) {
      broker = b
      hooks = h
      // a login that raced a change may carry the roles it read before the change: bring it up to date
      b.on('client', (client) => {
        const username = h.policyOf(client)?.identity.username
        if (username === undefined) return
        const account = directory.accounts.get(username)
        const current = h.policyOf(client)?.identity.roles ?? []
        // an account whose login changed after this client's password was verified counts as changed
        const loggedIn = h.accountOf(client)
        const stale = loggedIn !== undefined && account !== undefined && !sameAccountLogin(loggedIn, account)
        if (account === undefined || stale) updateClients(b, new Map([[username, null]]))
        else if (!sameList(account.roles, current)) h.setRoles(client, account.roles)
      })
    }
  }
}

function sameList (a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

function sameUser (a: StoredUser, b: StoredUser): boolean {
  return keepsLogin(a, b) && sameList(a.roles, b.roles)
}

function sameAccountLogin (a: Account, b: Account): boolean {
  return a.hash.key.equals(b.hash.key) && a.loopbackOnly === b.loopbackOnly
}

/** a role added, removed or given other grants */
function changedRoles (prev: readonly StoredRole[], next: readonly StoredRole[]): boolean {
  if (prev.length !== next.length) return true
  const before = new Map(prev.map((r) => [r.name, r]))
  return next.some((r) => { const old = before.get(r.name); return old === undefined || !sameList(old.subscribe, r.subscribe) })
}

function sameTopic (a: StoredTopic, b: StoredTopic): boolean {
  return sameList(a.owners, b.owners) && JSON.stringify(a.schema) === JSON.stringify(b.schema)
}

/** accounts removed, or whose password, loopback rule or roles changed */
export function changedAccounts (prev: RegistryState, next: RegistryState): Set<string> {
  const after = new Map(next.users.map((u) => [u.username, u]))
  const changed = new Set<string>()
  for (const u of prev.users) {
    const now = after.get(u.username)
    if (now === undefined || !sameUser(u, now)) changed.add(u.username)
  }
  return changed
}
