// The runtime registry: accounts, roles and topic registrations that change while the broker runs, persisted
// by a backend, one change at a time. Listeners apply each committed change to the live rules.
import { randomUUID } from 'node:crypto'
import { WardenError, type Logger } from '@warden/common'
import type { RegistryBackend } from './backend.js'
import { FieldError } from './field-error.js'
import type { PayloadSchemas } from './payload-schema.js'
import type { RoleTable } from '../policy/read-rules.js'
import { checkImport, type RegistryExport } from './transfer.js'
import { keepsLogin, type RegistryState, type StoredRole, type StoredTopic, type StoredUser } from './types.js'
import { BUILTIN_ROLES, checkGrants, checkPasswordHash, checkRegistration, checkRoles } from './validate.js'

export interface NewUser {
  readonly username: string
  readonly password?: string
  readonly passwordHash?: string
  readonly roles: readonly string[]
  readonly loopbackOnly?: boolean
}

export interface UserChange {
  readonly roles?: readonly string[]
  readonly password?: string
  readonly passwordHash?: string
  readonly loopbackOnly?: boolean
}

export interface NewTopic {
  readonly filter: string
  readonly owners: readonly string[]
  readonly schema?: Readonly<Record<string, unknown>>
}

export interface TopicChange {
  readonly owners?: readonly string[]
  /** null removes the schema */
  readonly schema?: Readonly<Record<string, unknown>> | null
}

/** What an import did to the accounts there before it: whose clients it disconnected */
export interface ImportResult {
  readonly state: RegistryState
  /** accounts kept under their name with another password hash, loopback rule or id */
  readonly loginChanged: readonly string[]
  /** accounts the import does not hold */
  readonly removed: readonly string[]
}

export type ChangeListener = (prev: RegistryState, next: RegistryState) => void

/**
 * Who makes a change, asked again just before it is stored: throws (a coded error) when the acting account
 * no longer may make it, in the state the change would be made on. A change that first waited for something
 * slow (a cluster's other workers) is then not made by an admin demoted or deleted meanwhile.
 */
export type ChangeAuthority = (s: RegistryState) => void

export interface RegistryDeps {
  backend: RegistryBackend
  /** the state loaded (and seeded) at start */
  initial: RegistryState
  /** the role anonymous clients get (config `anonymous`): it cannot be deleted */
  anonymousRole?: string | false
  schemas: PayloadSchemas
  hash: (password: string) => Promise<string>
  logger: Logger
}

const MAX_RETRIES = 5

export class Registry {
  private current: RegistryState
  private queue: Promise<unknown> = Promise.resolve()
  private readonly listeners: ChangeListener[] = []

  constructor (private readonly deps: RegistryDeps) {
    this.current = deps.initial
    deps.backend.watch(() => { this.serialize(() => this.reload()).catch((err: unknown) => deps.logger.error({ err }, 'cannot reload the registry')) })
  }

  get state (): RegistryState { return this.current }
  get backend (): RegistryBackend { return this.deps.backend }
  /** the built-in roles and the stored ones */
  get roleNames (): ReadonlySet<string> { return roleNamesOf(this.current) }
  /** every role's read grants (a built-in role without a record grants nothing) */
  get roleTable (): RoleTable { return roleTableOf(this.current) }

  onChange (listener: ChangeListener): void { this.listeners.push(listener) }

  /** reads the stored registry now, and applies it if it is newer (the announcements may have been missed) */
  async refresh (): Promise<void> { await this.serialize(async () => { await this.reload() }) }

  user (username: string): StoredUser | undefined { return this.current.users.find((u) => u.username === username) }
  topic (filter: string): StoredTopic | undefined { return this.current.topics.find((t) => t.filter === filter) }
  role (name: string): StoredRole | undefined { return this.current.roles.find((r) => r.name === name) }

  async createUser (input: NewUser, by?: ChangeAuthority): Promise<StoredUser> {
    checkRoles(input.roles, this.roleNames)
    const passwordHash = await this.passwordHashOf(input)
    if (passwordHash === undefined) throw new FieldError('WARDEN_ERR_API_BAD_REQUEST', 'password', 'is required (or passwordHash)')
    const user: StoredUser = { id: randomUUID(), username: input.username, passwordHash, roles: [...input.roles], loopbackOnly: input.loopbackOnly === true }
    return await this.mutate(by, (s) => {
      // again against the state the change is made on: a role deleted meanwhile (on any process) is not given
      checkRoles(input.roles, roleNamesOf(s))
      if (s.users.some((u) => u.username === input.username)) throw conflict(`user ${JSON.stringify(input.username)} exists already`)
      return { next: { ...s, users: [...s.users, user] }, result: user }
    })
  }

  async modifyUser (username: string, change: UserChange, by?: ChangeAuthority): Promise<StoredUser> {
    if (change.roles !== undefined) checkRoles(change.roles, this.roleNames)
    const passwordHash = await this.passwordHashOf(change)
    return await this.mutate(by, (s) => {
      const old = s.users.find((u) => u.username === username) ?? notFound(`user ${JSON.stringify(username)}`)
      if (change.roles !== undefined) checkRoles(change.roles, roleNamesOf(s))
      const user: StoredUser = {
        ...(old.id !== undefined ? { id: old.id } : {}),
        username,
        passwordHash: passwordHash ?? old.passwordHash,
        roles: change.roles !== undefined ? [...change.roles] : old.roles,
        loopbackOnly: change.loopbackOnly ?? old.loopbackOnly
      }
      const users = s.users.map((u) => u === old ? user : u)
      keepsAnAdmin(s.users, users)
      return { next: { ...s, users }, result: user }
    })
  }

  /**
   * Deletes the account and, in the same change, takes its name off every registration it owned: a name is
   * not an identity, and an account created later under the same name must start with nothing. A registration
   * left with no owner stays registered (nobody may publish there) rather than falling to unregisteredTopics.
   */
  async deleteUser (username: string, by?: ChangeAuthority): Promise<{ user: StoredUser, removedFrom: string[] }> {
    return await this.mutate(by, (s) => {
      const old = s.users.find((u) => u.username === username) ?? notFound(`user ${JSON.stringify(username)}`)
      const users = s.users.filter((u) => u !== old)
      keepsAnAdmin(s.users, users)
      const removedFrom: string[] = []
      const topics = s.topics.map((t) => {
        if (!t.owners.includes(username)) return t
        removedFrom.push(t.filter)
        return { ...t, owners: t.owners.filter((o) => o !== username) }
      })
      return { next: { ...s, users, topics }, result: { user: old, removedFrom } }
    })
  }

  async createRole (input: StoredRole, by?: ChangeAuthority): Promise<StoredRole> {
    checkGrants(input.subscribe)
    const role: StoredRole = { name: input.name, subscribe: [...input.subscribe] }
    return await this.mutate(by, (s) => {
      if (roleNamesOf(s).has(input.name)) throw conflict(`role ${JSON.stringify(input.name)} exists already (change it instead)`)
      return { next: { ...s, roles: [...s.roles, role] }, result: role }
    })
  }

  /** replaces a role's grants; a built-in role without a record gets one */
  async modifyRole (name: string, subscribe: readonly string[], by?: ChangeAuthority): Promise<StoredRole> {
    checkGrants(subscribe)
    const role: StoredRole = { name, subscribe: [...subscribe] }
    return await this.mutate(by, (s) => {
      const old = s.roles.find((r) => r.name === name)
      if (old === undefined && !BUILTIN_ROLES.includes(name)) notFound(`role ${JSON.stringify(name)}`)
      const roles = old === undefined ? [...s.roles, role] : s.roles.map((r) => r === old ? role : r)
      return { next: { ...s, roles }, result: role }
    })
  }

  async deleteRole (name: string, by?: ChangeAuthority): Promise<StoredRole> {
    return await this.mutate(by, (s) => {
      if (BUILTIN_ROLES.includes(name)) throw conflict(`role ${JSON.stringify(name)} is built in and cannot be deleted (change its grants instead)`)
      const old = s.roles.find((r) => r.name === name) ?? notFound(`role ${JSON.stringify(name)}`)
      if (this.deps.anonymousRole === name) throw conflict(`role ${JSON.stringify(name)} is the role of anonymous clients (config key anonymous)`)
      const holders = s.users.filter((u) => u.roles.includes(name)).map((u) => u.username)
      if (holders.length > 0) {
        const more = holders.length > 5 ? ` and ${holders.length - 5} more` : ''
        throw conflict(`role ${JSON.stringify(name)} is held by ${holders.slice(0, 5).join(', ')}${more}: take it from them first`)
      }
      return { next: { ...s, roles: s.roles.filter((r) => r !== old) }, result: old }
    })
  }

  async createTopic (input: NewTopic, by?: ChangeAuthority): Promise<StoredTopic> {
    const topic = this.checkedTopic(input.filter, input.owners, input.schema)
    return await this.mutate(by, (s) => {
      if (s.topics.some((t) => t.filter === input.filter)) {
        // one message for every way in: each names its own way to change it
        throw conflict(`topic ${JSON.stringify(input.filter)} is registered already: change it with \`warden topic register … --update\`, ` +
          'PATCH /api/v1/topics/<filter> (# written %23) or the modifyTopic command')
      }
      return { next: { ...s, topics: [...s.topics, topic] }, result: topic }
    })
  }

  async modifyTopic (filter: string, change: TopicChange, by?: ChangeAuthority): Promise<StoredTopic> {
    return await this.mutate(by, (s) => {
      const old = s.topics.find((t) => t.filter === filter) ?? notFound(`topic ${JSON.stringify(filter)}`)
      const schema = change.schema === null ? undefined : change.schema ?? old.schema
      const topic = this.checkedTopic(filter, change.owners ?? old.owners, schema)
      return { next: { ...s, topics: s.topics.map((t) => t === old ? topic : t) }, result: topic }
    })
  }

  async deleteTopic (filter: string, by?: ChangeAuthority): Promise<StoredTopic> {
    return await this.mutate(by, (s) => {
      const old = s.topics.find((t) => t.filter === filter) ?? notFound(`topic ${JSON.stringify(filter)}`)
      return { next: { ...s, topics: s.topics.filter((t) => t !== old) }, result: old }
    })
  }

  /**
   * Replaces every account, role and registration in one change (an import: each entry checked by
   * transfer.ts with the API's rules, the first bad one named): stored
   * all or nothing. An account keeps the id it was exported with; without one, the id of this registry's
   * account of that name (or a new one). Config entries either side had imported stay imported: a revocation
   * made at run time is not undone by the config file at the next start.
   */
  async replaceAll (doc: RegistryExport, by?: ChangeAuthority): Promise<ImportResult> {
    const entries = checkImport(doc, this.deps.schemas)
    const anonymous = this.deps.anonymousRole
    if (typeof anonymous === 'string' && !BUILTIN_ROLES.includes(anonymous) && !entries.roles.some((r) => r.name === anonymous)) {
      throw conflict(`role ${JSON.stringify(anonymous)} is the role of anonymous clients (config key anonymous): the import must define it`)
    }
    const changes = await this.mutate(by, (s) => {
      const ids = new Map(s.users.map((u) => [u.username, u.id]))
      const users = entries.users.map((u) => ({ ...u, id: u.id ?? ids.get(u.username) ?? randomUUID() }))
      const before = new Map(s.users.map((u) => [u.username, u]))
      const kept = new Set(users.map((u) => u.username))
      const loginChanged = users.filter((u) => { const old = before.get(u.username); return old !== undefined && !keepsLogin(old, u) }).map((u) => u.username)
      const removed = s.users.filter((u) => !kept.has(u.username)).map((u) => u.username)
      const union = (a: readonly string[], b: readonly string[] = []): string[] => [...new Set([...a, ...b])]
      const seeded = {
        users: union(s.seeded.users, entries.seeded.users),
        topics: union(s.seeded.topics, entries.seeded.topics),
        roles: union(s.seeded.roles, entries.seeded.roles)
      }
      return { next: { ...s, seeded, users, roles: [...entries.roles], topics: [...entries.topics] }, result: { loginChanged, removed } }
    })
    return { state: this.current, ...changes }
  }

  /** waits for changes under way, then closes the backend */
  async close (): Promise<void> {
    await this.queue.catch(() => {})
    await this.deps.backend.close()
  }

  private checkedTopic (filter: string, owners: readonly string[], schema: Readonly<Record<string, unknown>> | undefined): StoredTopic {
    checkRegistration(filter, owners)
    if (schema !== undefined) this.deps.schemas.check(schema)
    return { filter, owners: [...owners], ...(schema !== undefined ? { schema } : {}) }
  }

  private async passwordHashOf (input: { password?: string, passwordHash?: string }): Promise<string | undefined> {
    if (input.password !== undefined && input.passwordHash !== undefined) {
      throw new FieldError('WARDEN_ERR_API_BAD_REQUEST', 'password', 'give either password or passwordHash, not both')
    }
    if (input.passwordHash !== undefined) {
      checkPasswordHash(input.passwordHash)
      return input.passwordHash
    }
    // hashed on arrival: the plain password goes no further than this call
    return input.password !== undefined ? await this.deps.hash(input.password) : undefined
  }

  /**
   * Runs one change: `fn` derives the next state from the current one (or throws a coded error), the
   * backend stores it, then listeners apply it. If another process changed the registry first, the change
   * is derived again from the state it stored. `by` is asked first, each time, against that same state.
   */
  private async mutate<T> (by: ChangeAuthority | undefined, fn: (s: RegistryState) => { next: RegistryState, result: T }): Promise<T> {
    return await this.serialize(async () => {
      for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
        const base = this.current
        by?.(base)
        const { next, result } = fn(base)
        const stamped: RegistryState = { ...next, revision: base.revision + 1, updatedAt: new Date().toISOString() }
        if (await this.deps.backend.save(stamped)) {
          this.commit(stamped)
          return result
        }
        await this.reload()
      }
      throw new WardenError('WARDEN_ERR_REGISTRY', 'the registry kept changing under this process; try again')
    })
  }

  private async reload (): Promise<void> {
    const stored = await this.deps.backend.load()
    if (stored !== undefined && stored.revision > this.current.revision) this.commit(stored)
  }

  private commit (next: RegistryState): void {
    const prev = this.current
    this.current = next
    for (const l of this.listeners) {
      try { l(prev, next) } catch (err) { this.deps.logger.error({ err }, 'cannot apply a registry change') }
    }
  }

  private serialize<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn)
    this.queue = run.catch(() => {})
    return run
  }
}

export function roleNamesOf (s: RegistryState): Set<string> {
  return new Set([...BUILTIN_ROLES, ...s.roles.map((r) => r.name)])
}

export function roleTableOf (s: RegistryState): RoleTable {
  const table: Record<string, { subscribe: readonly string[] }> = {}
  for (const name of BUILTIN_ROLES) table[name] = { subscribe: [] }
  for (const r of s.roles) table[r.name] = { subscribe: r.subscribe }
  return table
}

function conflict (message: string): WardenError {
  return new WardenError('WARDEN_ERR_API_CONFLICT', message)
}

function notFound (what: string): never {
  throw new WardenError('WARDEN_ERR_API_NOT_FOUND', `${what} does not exist`)
}

/** Refuses a change that would take away the last admin account (nobody could use the control plane). */
function keepsAnAdmin (before: readonly StoredUser[], after: readonly StoredUser[]): void {
  const admins = (users: readonly StoredUser[]): number => users.filter((u) => u.roles.includes('admin')).length
  if (admins(before) > 0 && admins(after) === 0) {
    throw new WardenError('WARDEN_ERR_API_CONFLICT', 'this would leave no admin account; give another user the admin role first')
  }
}
