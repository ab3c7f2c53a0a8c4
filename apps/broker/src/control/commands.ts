// The control commands: one implementation behind the HTTP API and the MQTT control topic. Input is checked
// against the command's JSON Schema, access against the caller's roles, then the registry does the rest.
import { Ajv, type ValidateFunction } from 'ajv'
import { WardenError } from '@warden/common'
import type { Identity } from '../policy/identity.js'
import { FieldError } from '../registry/field-error.js'
import type { ChangeAuthority } from '../registry/registry.js'
import { toExport, type RegistryExport } from '../registry/transfer.js'
import type { StoredUser } from '../registry/types.js'
import { BUILTIN_ROLES } from '../registry/validate.js'
import { viewClients, type ClientView } from '../observe/client-view.js'
import type { GroupStats } from '../groups/group-stats.js'
import { createReader } from '../policy/read-rules.js'
import { registrationWarnings, type RegistrationWarning } from '../registry/registration-warnings.js'
import { changeAuthority, type Actor } from './acting-account.js'
import { buildStatus, type Status } from './status.js'
import type { TopicView } from '../observe/topic-view.js'
import { mergeGroups } from './cluster-groups.js'
import { connectionsByUser, denials, fleet, topicPageView, topicViews, type Coverage } from './cluster-reads.js'
import { COMMAND_ACCESS, COMMAND_SCHEMAS, HTTP_ONLY, isCommandName, type CommandName } from './command-schemas.js'
import type { ControlContext } from './context.js'
import { requestError } from './request-errors.js'

const ajv = new Ajv({ allErrors: false, strict: true })
const validators = Object.fromEntries(
  Object.entries(COMMAND_SCHEMAS).map(([name, schema]) => [name, ajv.compile(schema)])
) as Record<CommandName, ValidateFunction>

export type Via = 'http' | 'mqtt'

export interface UserView {
  readonly username: string
  readonly roles: readonly string[]
  readonly loopbackOnly: boolean
  /** connected clients using this account */
  readonly connections: number
  /** the registrations naming it as an owner (what deleting it takes it off) */
  readonly owns: readonly string[]
}

type Fields = Record<string, unknown>
/** `by`: passed to every registry change, which asks it again just before the change is made */
type Handler = (ctx: ControlContext, f: Fields, actor: Identity, by: ChangeAuthority) => Promise<unknown> | unknown

const str = (f: Fields, k: string): string => f[k] as string
const opt = <T>(f: Fields, k: string): T | undefined => f[k] as T | undefined

export interface RoleView {
  readonly name: string
  /** the filters its holders may read */
  readonly subscribe: readonly string[]
  /** admin, observer, producer, consumer: always there, cannot be deleted */
  readonly builtin: boolean
  /** accounts holding it */
  readonly users: number
}

function roleViews (ctx: ControlContext, name?: string): RoleView[] {
  const table = ctx.registry.roleTable
  const names = name === undefined ? Object.keys(table) : Object.keys(table).filter((n) => n === name)
  return names.map((n) => ({
    name: n,
    subscribe: table[n]?.subscribe ?? [],
    builtin: BUILTIN_ROLES.includes(n),
    users: ctx.registry.state.users.filter((u) => u.roles.includes(n)).length
  }))
}

function ownedBy (ctx: ControlContext): Map<string, string[]> {
  const owns = new Map<string, string[]>()
  for (const t of ctx.registry.state.topics) {
    for (const o of t.owners) {
      let l = owns.get(o)
      if (l === undefined) owns.set(o, l = [])
      l.push(t.filter)
    }
  }
  return owns
}

function userView (u: StoredUser, conns: ReadonlyMap<string, number>, owns: ReadonlyMap<string, readonly string[]>): UserView {
  // never the password hash
  return { username: u.username, roles: u.roles, loopbackOnly: u.loopbackOnly, connections: conns.get(u.username) ?? 0, owns: owns.get(u.username) ?? [] }
}

/** what a registration of `filter` owned by `owners` takes from others (connected on any worker), and owners that do not exist */
async function warningsFor (ctx: ControlContext, filter: string, owners: readonly string[]): Promise<RegistrationWarning[]> {
  const state = ctx.registry.state
  const connected = new Set((await connectionsByUser(ctx)).counts.keys())
  return registrationWarnings(filter, owners, state.topics, new Set(state.users.map((u) => u.username)), connected)
}

async function topicPage (ctx: ControlContext, filter: string, actor: Identity): Promise<Record<string, unknown>> {
  const { view, ...coverage } = await topicPageView(ctx, filter)
  if (view === undefined) notFound(`topic ${JSON.stringify(filter)}`)
  const { recent, ...rest } = view
  const reader = createReader(actor, ctx.registry.roleTable)
  // a viewer sees the messages of the topics it may read, as a subscriber would (in a cluster: filtered here,
  // by the asking worker, whichever worker kept them)
  const allowed = recent === undefined ? 'off' : reader.canSubscribe(filter.split('/').map((l) => l.includes('{') ? '+' : l).join('/')) ? 'on' : 'not-allowed'
  return {
    ...rest,
    recentMessages: allowed,
    recent: recent === undefined ? [] : recent.filter((m) => reader.canRead(m.topic)),
    ...coverage
  }
}

/** one topic as create and modify answer it */
async function topicView (ctx: ControlContext, filter: string): Promise<TopicView | undefined> {
  return (await topicViews(ctx, filter)).views[0]
}

async function userViews (ctx: ControlContext, users: readonly StoredUser[]): Promise<{ users: UserView[] } & Coverage> {
  const { counts, ...coverage } = await connectionsByUser(ctx)
  const owns = ownedBy(ctx)
  return { users: users.map((u) => userView(u, counts, owns)), ...coverage }
}

async function oneUser (ctx: ControlContext, u: StoredUser): Promise<UserView> {
  return (await userViews(ctx, [u])).users[0] as UserView
}

function notFound (what: string): never {
  throw new WardenError('WARDEN_ERR_API_NOT_FOUND', `${what} does not exist`)
}

const HANDLERS: Readonly<Record<CommandName, Handler>> = {
  listUsers: async (ctx) => await userViews(ctx, ctx.registry.state.users),
  getUser: async (ctx, f) => await oneUser(ctx, ctx.registry.user(str(f, 'username')) ?? notFound(`user ${JSON.stringify(f.username)}`)),
  createUser: async (ctx, f, _actor, by) => await oneUser(ctx, await ctx.registry.createUser({
    username: str(f, 'username'),
    roles: f.roles as string[],
    ...pick(f, ['password', 'passwordHash', 'loopbackOnly'])
  }, by)),
  modifyUser: async (ctx, f, _actor, by) => await oneUser(ctx,
    await ctx.registry.modifyUser(str(f, 'username'), pick(f, ['roles', 'password', 'passwordHash', 'loopbackOnly']), by)),
  deleteUser: async (ctx, f, _actor, by) => {
    // removedFrom: the registrations it owned, which no longer name it (see Registry.deleteUser)
    const { user, removedFrom } = await ctx.registry.deleteUser(str(f, 'username'), by)
    return { username: user.username, removedFrom }
  },
  listRoles: (ctx) => ({ roles: roleViews(ctx) }),
  getRole: (ctx, f) => roleViews(ctx, str(f, 'name'))[0] ?? notFound(`role ${JSON.stringify(f.name)}`),
  createRole: async (ctx, f, _actor, by) => {
    const r = await ctx.registry.createRole({ name: str(f, 'name'), subscribe: f.subscribe as string[] }, by)
    return roleViews(ctx, r.name)[0]
  },
  modifyRole: async (ctx, f, _actor, by) => {
    const r = await ctx.registry.modifyRole(str(f, 'name'), f.subscribe as string[], by)
    return roleViews(ctx, r.name)[0]
  },
  deleteRole: async (ctx, f, _actor, by) => {
    const r = await ctx.registry.deleteRole(str(f, 'name'), by)
    return { name: r.name }
  },
  listTopics: async (ctx) => {
    const { views, ...coverage } = await topicViews(ctx)
    return { topics: views, ...coverage }
  },
  getTopic: async (ctx, f, actor) => await topicPage(ctx, str(f, 'filter'), actor),
  createTopic: async (ctx, f, _actor, by) => {
    // judged against the registry before the change: what it takes is what the others had
    const warnings = await warningsFor(ctx, str(f, 'filter'), f.owners as string[])
    const t = await ctx.registry.createTopic({ filter: str(f, 'filter'), owners: f.owners as string[], ...pick(f, ['schema']) }, by)
    return { ...await topicView(ctx, t.filter), warnings }
  },
  modifyTopic: async (ctx, f, _actor, by) => {
    const warnings = f.owners === undefined ? [] : await warningsFor(ctx, str(f, 'filter'), f.owners as string[])
    const t = await ctx.registry.modifyTopic(str(f, 'filter'), pick(f, ['owners', 'schema']), by)
    return { ...await topicView(ctx, t.filter), warnings }
  },
  deleteTopic: async (ctx, f, _actor, by) => {
    const t = await ctx.registry.deleteTopic(str(f, 'filter'), by)
    return { filter: t.filter }
  },
  listClients: async (ctx, f) => {
    const limit = opt<number>(f, 'limit') ?? 1000
    if (ctx.cluster === undefined) return localClients(ctx, limit)
    // every worker's clients, each named by its worker; `total` counts them all, `clients` holds up to `limit`
    const g = await ctx.cluster.gather<ClientList>('clients', { limit })
    const clients = g.parts.flatMap((p) => p.data.clients.map((c) => ({ ...c, worker: p.worker })))
    return { total: g.parts.reduce((n, p) => n + p.data.total, 0), clients: clients.slice(0, limit), workers: g.parts.map((p) => p.worker), missing: g.missing }
  },
  getStatus: async (ctx) => {
    const mine = buildStatus(ctx)
    if (ctx.cluster === undefined) return mine
    // this worker's status, and a line per worker with the cluster's totals
    const g = await ctx.cluster.gather<Status>('status')
    const workers = g.parts.map(({ worker, data: s }) => ({
      worker, uptimeSeconds: s.uptimeSeconds, clients: s.clients, subscriptions: s.subscriptions, messages: s.messages, denials: s.denials.total
    }))
    const sum = (f: (w: typeof workers[number]) => number): number => workers.reduce((n, w) => n + f(w), 0)
    return {
      ...mine,
      cluster: {
        workers,
        missing: g.missing,
        clients: sum((w) => w.clients),
        subscriptions: sum((w) => w.subscriptions),
        messages: { received: sum((w) => w.messages.received), sent: sum((w) => w.messages.sent) },
        denials: sum((w) => w.denials)
      }
    }
  },
  kickClient: async (ctx, f) => await ctx.sessions.kick(str(f, 'clientId')) ?? notFound(`connected client ${JSON.stringify(f.clientId)}`),
  listDenials: async (ctx, f) => await denials(ctx, f),
  listFleet: async (ctx, f) => await fleet(ctx, opt<number>(f, 'limit') ?? 1000),
  listGroups: async (ctx) => {
    if (ctx.cluster === undefined) return { groups: await ctx.groups() }
    // one entry per group: its members with their worker, each worker's counts summed
    const g = await ctx.cluster.gather<GroupStats[]>('groups')
    return { groups: mergeGroups(g.parts), workers: g.parts.map((p) => p.worker), missing: g.missing }
  },
  listSessions: async (ctx, f) => await ctx.sessions.list(opt<number>(f, 'limit') ?? 1000),
  getSession: async (ctx, f) => await ctx.sessions.get(str(f, 'clientId')) ?? notFound(`session ${JSON.stringify(f.clientId)}`),
  deleteSession: async (ctx, f) => {
    const s = await ctx.sessions.remove(str(f, 'clientId')) ?? notFound(`session ${JSON.stringify(f.clientId)}`)
    return { clientId: s.clientId, account: s.account }
  },
  exportRegistry: (ctx) => toExport(ctx.registry.state, { backend: ctx.registry.backend.kind, location: ctx.registry.backend.location }),
  importRegistry: async (ctx, f, _actor, by) => {
    const { state: s, loginChanged, removed } = await ctx.registry.replaceAll(f as unknown as RegistryExport, by)
    // whose clients the import disconnected: an account seeded anew from the config has another salt, so another hash
    return { revision: s.revision, users: s.users.length, roles: s.roles.length, topics: s.topics.length, loginChanged, removed }
  }
}

function pick (f: Fields, keys: readonly string[]): Fields {
  const out: Fields = {}
  for (const k of keys) if (f[k] !== undefined) out[k] = f[k]
  return out
}

/**
 * Runs one command for `caller`. `request` is `{ command, ...fields }`. Throws a WardenError with a code
 * (bad request, unauthorized, forbidden, not found, conflict, registry) that the caller maps to its transport.
 * A registry change is made only if the caller's account is, at that moment, still the one authorized here.
 */
export async function executeCommand (ctx: ControlContext, caller: Actor, via: Via, request: unknown): Promise<unknown> {
  const actor = caller.identity
  if (request === null || typeof request !== 'object' || Array.isArray(request)) {
    throw new FieldError('WARDEN_ERR_API_BAD_REQUEST', '(body)', 'must be a JSON object')
  }
  const { command, ...fields } = request as Fields
  if (!isCommandName(command)) {
    throw new FieldError('WARDEN_ERR_API_BAD_REQUEST', 'command',
      `${JSON.stringify(command)} is not a known command (${Object.keys(COMMAND_SCHEMAS).join(', ')})`)
  }
  const access = COMMAND_ACCESS[command]
  if (!(actor.admin || (access === 'read' && actor.observer))) {
    throw new WardenError('WARDEN_ERR_API_FORBIDDEN', `${command} needs the ${access === 'read' ? 'admin or observer' : 'admin'} role`)
  }
  // the control topic's answers reach every subscriber of the response topic and may wait in session queues:
  // no password hash goes that way
  if (HTTP_ONLY.has(command) && via !== 'http') {
    throw new WardenError('WARDEN_ERR_API_FORBIDDEN', `${command} is only available over the HTTP API (it carries password hashes)`)
  }
  const validate = validators[command]
  if (!validate(fields)) throw requestError(validate.errors)
  const by = changeAuthority(caller)
  // a change that is not the registry's (a kick, a session removed) is judged at its start: a control topic
  // request's commands run one after another, and an earlier one may have waited
  if (access === 'write') by(ctx.registry.state)
  const data = await HANDLERS[command](ctx, fields, actor, by)
  if (command === 'exportRegistry') {
    ctx.logger.info({ command, by: actor.username, via, revision: ctx.registry.state.revision }, 'registry exported')
  } else if (command === 'importRegistry') {
    // the whole registry replaced: what it holds now, not one target
    ctx.logger.info({ command, by: actor.username, via, ...(data as object) }, 'registry changed')
  } else if (command === 'deleteSession') {
    ctx.logger.info({ command, by: actor.username, via, target: fields.clientId }, 'session removed')
  } else if (command === 'kickClient') {
    ctx.logger.info({ command, by: actor.username, via, target: fields.clientId }, 'client disconnected')
  } else if (access === 'write') {
    const target = fields.username ?? fields.filter ?? fields.name
    ctx.logger.info({ command, by: actor.username, via, target, revision: ctx.registry.state.revision }, 'registry changed')
  }
  return data
}

interface ClientList { total: number, clients: ClientView[] }

/** this worker's connected clients (a cluster's other workers answer with theirs through this) */
export function localClients (ctx: ControlContext, limit: number): ClientList {
  const all = viewClients(ctx.broker, ctx.hooks, ctx.connectedAt)
  return { total: all.length, clients: all.slice(0, limit) }
}
