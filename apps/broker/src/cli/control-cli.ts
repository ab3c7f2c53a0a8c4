// `warden user …`, `warden role …`, `warden topic …`, `warden session …`, `warden status`: the control plane from a shell, through the running
// broker's HTTP API. Tables for people, --json for scripts; exit codes say what went wrong.
import { readFile } from 'node:fs/promises'
import { isWardenError } from '@warden/common'
import { ApiError, callApi, type ApiTarget } from './api-client.js'
import { listOf, parseArgs, usageError, type Parsed, type Spec } from './args.js'
import { targetOf } from './cli-env.js'
import { closeSecrets, readSecret, type SecretIo } from './secret.js'
import { formatDuration, formatPairs, formatTable } from './table.js'

export interface CliIo extends SecretIo {
  readonly env: NodeJS.ProcessEnv
  readonly stdout: { write (s: string): unknown }
}

export const CONTROL_USAGE = `  warden user ls                                  list accounts
  warden user add <name> --role <r> [--role …] [--loopback-only] [--password-hash <h>]
                                                  create an account; the password is read from stdin
  warden user roles <name> <role>… | --none       replace an account's roles
  warden user passwd <name>                       set a new password (read from stdin)
  warden user rm <name>                           delete an account and disconnect its clients
  warden role ls                                  roles with their read grants and holders
  warden role add <name> --read <filter> [--read …]
                                                  define a role that may read these filters
  warden role set <name> <filter>… | --none       replace a role's read grants
  warden role rm <name>                           delete a role no account holds
  warden topic ls                                 registrations with owners, subscribers and rates
  warden topic register <filter> --owner <u> [--owner …] [--schema <file.json>] [--update]
                                                  register a topic (--update changes an existing one)
  warden topic rm <filter>                        delete a registration
  warden session ls                               sessions by client id: account, connected, clean
  warden session show <client-id>                 one session, with its queued messages
  warden session rm <client-id>                   end its connection (no will), remove it, free the id
  warden status                                   the broker at a glance
  Common options: --url <url> (WARDEN_URL, default http://127.0.0.1:8080), --user <admin>
  (WARDEN_ADMIN_USER, default admin), --json. The admin password comes from WARDEN_ADMIN_PASSWORD, or
  is asked for. Exit codes: 0 done, 1 refused by the broker, 2 usage, 3 broker unreachable, 4 not allowed.`

type Command = (ctx: Ctx) => Promise<void>
interface Ctx { readonly p: Parsed, readonly io: CliIo, readonly api: (method: string, path: string, body?: unknown) => Promise<unknown> }

const SPECS: Record<string, Spec> = {
  'user add': { repeatable: ['role'], values: ['password-hash'], flags: ['loopback-only'] },
  'user roles': { flags: ['none'] },
  'role add': { repeatable: ['read'] },
  'role set': { flags: ['none'] },
  'topic register': { repeatable: ['owner'], values: ['schema'], flags: ['update'] }
}

const yesNo = (b: boolean): string => b ? 'yes' : 'no'
const topicPath = (filter: string): string => `/api/v1/topics/${encodeURIComponent(filter)}`
const userPath = (name: string): string => `/api/v1/users/${encodeURIComponent(name)}`
const rolePath = (name: string): string => `/api/v1/roles/${encodeURIComponent(name)}`
const sessionPath = (clientId: string): string => `/api/v1/sessions/${encodeURIComponent(clientId)}`

function one (p: Parsed, what: string): string {
  if (p.positionals.length !== 1) throw usageError(`expects exactly one ${what}`)
  return p.positionals[0] as string
}

async function newPassword (ctx: Ctx, name: string): Promise<string> {
  const pw = await readSecret(ctx.io, `new password for ${name}: `)
  if (pw === undefined || pw === '') throw usageError(`no password for ${name} on standard input`)
  return pw
}

interface UserView { username: string, roles: string[], loopbackOnly: boolean, connections: number }
interface RoleView { name: string, subscribe: string[], builtin: boolean, users: number }
interface SessionView { clientId: string, account: string | null, connected: boolean, clean: boolean, since: string, subscriptions: number, queued?: number }
interface TopicView { filter: string, owners: string[], schema: unknown, subscribers: number, messages: number, messagesPerSecond: number, lastPublishAt: string | null }

function print (ctx: Ctx, data: unknown, human: () => string): void {
  ctx.io.stdout.write(ctx.p.flags.has('json') ? JSON.stringify(data, null, 2) + '\n' : human())
}

const COMMANDS: Record<string, Command> = {
  'user ls': async (ctx) => {
    const data = await ctx.api('GET', '/api/v1/users') as { users: UserView[] }
    print(ctx, data, () => formatTable(['USERNAME', 'ROLES', 'LOOPBACK-ONLY', 'CONNECTIONS'],
      data.users.map((u) => [u.username, u.roles.join(',') || '-', yesNo(u.loopbackOnly), String(u.connections)])))
  },
  'user add': async (ctx) => {
    const name = one(ctx.p, 'user name')
    const roles = listOf(ctx.p, 'role')
    const hash = ctx.p.values.get('password-hash')?.[0]
    const secret = hash !== undefined ? { passwordHash: hash } : { password: await newPassword(ctx, name) }
    const data = await ctx.api('POST', '/api/v1/users', { username: name, roles, ...secret, ...(ctx.p.flags.has('loopback-only') ? { loopbackOnly: true } : {}) }) as UserView
    print(ctx, data, () => `created user ${data.username} (roles: ${data.roles.join(', ') || 'none'})\n`)
  },
  'user roles': async (ctx) => {
    const [name, ...roles] = ctx.p.positionals
    if (name === undefined || (roles.length === 0 && !ctx.p.flags.has('none'))) throw usageError('expects a user name and its roles (or --none)')
    const data = await ctx.api('PATCH', userPath(name), { roles: roles.flatMap((r) => r.split(',')).filter((r) => r !== '') }) as UserView
    print(ctx, data, () => `user ${data.username} now has roles: ${data.roles.join(', ') || 'none'}\n`)
  },
  'user passwd': async (ctx) => {
    const name = one(ctx.p, 'user name')
    const data = await ctx.api('PATCH', userPath(name), { password: await newPassword(ctx, name) }) as UserView
    print(ctx, data, () => `changed the password of ${data.username}\n`)
  },
  'user rm': async (ctx) => {
    const name = one(ctx.p, 'user name')
    const data = await ctx.api('DELETE', userPath(name)) as { username: string, removedFrom?: string[] } | undefined
    const removedFrom = data?.removedFrom ?? []
    print(ctx, { username: name, removedFrom }, () => `deleted user ${name}${removedFrom.length > 0 ? `; no longer an owner of ${removedFrom.join(', ')}` : ''}\n`)
  },
  'role ls': async (ctx) => {
    const data = await ctx.api('GET', '/api/v1/roles') as { roles: RoleView[] }
    print(ctx, data, () => formatTable(['ROLE', 'READS', 'BUILT-IN', 'USERS'],
      data.roles.map((r) => [r.name, r.subscribe.join(',') || '-', yesNo(r.builtin), String(r.users)])))
  },
  'role add': async (ctx) => {
    const name = one(ctx.p, 'role name')
    const data = await ctx.api('POST', '/api/v1/roles', { name, subscribe: listOf(ctx.p, 'read') }) as RoleView
    print(ctx, data, () => `created role ${data.name} (reads: ${data.subscribe.join(', ') || 'nothing'})\n`)
  },
  'role set': async (ctx) => {
    const [name, ...filters] = ctx.p.positionals
    if (name === undefined || (filters.length === 0 && !ctx.p.flags.has('none'))) throw usageError('expects a role name and its filters (or --none)')
    const data = await ctx.api('PATCH', rolePath(name), { subscribe: filters }) as RoleView
    print(ctx, data, () => `role ${data.name} now reads: ${data.subscribe.join(', ') || 'nothing'}\n`)
  },
  'role rm': async (ctx) => {
    const name = one(ctx.p, 'role name')
    await ctx.api('DELETE', rolePath(name))
    print(ctx, { name }, () => `deleted role ${name}\n`)
  },
  'topic ls': async (ctx) => {
    const data = await ctx.api('GET', '/api/v1/topics') as { topics: TopicView[] }
    print(ctx, data, () => formatTable(['FILTER', 'OWNERS', 'SCHEMA', 'SUBSCRIBERS', 'MESSAGES', 'MSG/S', 'LAST PUBLISH'],
      data.topics.map((t) => [t.filter, t.owners.join(','), yesNo(t.schema !== null), String(t.subscribers), String(t.messages), t.messagesPerSecond.toFixed(1), t.lastPublishAt ?? '-'])))
  },
  'topic register': async (ctx) => {
    const filter = one(ctx.p, 'topic filter')
    const owners = listOf(ctx.p, 'owner')
    const schemaFile = ctx.p.values.get('schema')?.[0]
    const update = ctx.p.flags.has('update')
    if (owners.length === 0 && !(update && schemaFile !== undefined)) throw usageError('needs at least one --owner')
    let schema: unknown
    if (schemaFile !== undefined) {
      try { schema = JSON.parse(await readFile(schemaFile, 'utf8')) } catch (err) { throw usageError(`--schema ${schemaFile}: ${(err as Error).message}`) }
    }
    const fields = { ...(owners.length > 0 ? { owners } : {}), ...(schema !== undefined ? { schema } : {}) }
    const data = await (update ? ctx.api('PATCH', topicPath(filter), fields) : ctx.api('POST', '/api/v1/topics', { filter, ...fields })) as TopicView
    print(ctx, data, () => `${update ? 'updated' : 'registered'} ${data.filter} (owners: ${data.owners.join(', ')}${data.schema !== null ? '; payload schema' : ''})\n`)
  },
  'topic rm': async (ctx) => {
    const filter = one(ctx.p, 'topic filter')
    await ctx.api('DELETE', topicPath(filter))
    print(ctx, { filter }, () => `deleted registration ${filter}\n`)
  },
  'session ls': async (ctx) => {
    const data = await ctx.api('GET', '/api/v1/sessions') as { total: number, sessions: SessionView[] }
    print(ctx, data, () => formatTable(['CLIENT ID', 'ACCOUNT', 'CONNECTED', 'CLEAN', 'SUBSCRIPTIONS', 'SINCE'],
      data.sessions.map((s) => [s.clientId, s.account ?? '(anonymous)', yesNo(s.connected), yesNo(s.clean), String(s.subscriptions), s.since])))
  },
  'session show': async (ctx) => {
    const s = await ctx.api('GET', sessionPath(one(ctx.p, 'client id'))) as SessionView
    print(ctx, s, () => formatPairs([
      ['client id', s.clientId], ['account', s.account ?? '(anonymous)'], ['connected', yesNo(s.connected)], ['clean', yesNo(s.clean)],
      ['since', s.since], ['subscriptions', String(s.subscriptions)], ['queued', String(s.queued ?? '-')]
    ]))
  },
  'session rm': async (ctx) => {
    const clientId = one(ctx.p, 'client id')
    await ctx.api('DELETE', sessionPath(clientId))
    print(ctx, { clientId }, () => `removed session ${clientId}; the client id is free\n`)
  },
  status: async (ctx) => {
    if (ctx.p.positionals.length > 0) throw usageError('takes no arguments')
    const s = await ctx.api('GET', '/api/v1/status') as {
      brokerId: string, uptimeSeconds: number, listeners: { mqtt: string, http: string }, persistence: string, registry: { backend: string, revision: number }
      clients: number, subscriptions: number, users: number, topics: number
      messages: { received: number, sent: number, receivedPerSecond: number, sentPerSecond: number }, denials: { total: number, byReason: Record<string, number> }
    }
    const reasons = Object.entries(s.denials.byReason).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ')
    print(ctx, s, () => formatPairs([
      ['broker', s.brokerId],
      ['uptime', formatDuration(s.uptimeSeconds)],
      ['mqtt', s.listeners.mqtt],
      ['http', s.listeners.http],
      ['persistence', `${s.persistence} (registry: ${s.registry.backend}, revision ${s.registry.revision})`],
      ['clients', `${s.clients} (${s.subscriptions} subscriptions)`],
      ['users', String(s.users)],
      ['topics', String(s.topics)],
      ['messages', `in ${s.messages.received} (${s.messages.receivedPerSecond.toFixed(1)}/s), out ${s.messages.sent} (${s.messages.sentPerSecond.toFixed(1)}/s)`],
      ['denials', s.denials.total === 0 ? '0' : `${s.denials.total} (${reasons})`]
    ]))
  }
}

export function exitCodeOf (err: unknown): number {
  if (!isWardenError(err)) return 1
  if (err.code === 'WARDEN_ERR_USAGE') return 2
  if (err.code === 'WARDEN_ERR_API_UNREACHABLE') return 3
  if (err instanceof ApiError && (err.status === 401 || err.status === 403)) return 4
  return 1
}

/** Runs `warden <group> [<verb>] …`; resolves with the exit code. */
export async function runControlCli (group: string, argv: readonly string[], io: CliIo): Promise<number> {
  const verb = group === 'status' ? undefined : argv[0]
  const rest = group === 'status' ? argv : argv.slice(1)
  const name = verb === undefined ? group : `${group} ${verb}`
  const command = COMMANDS[name]
  try {
    if (command === undefined) throw usageError(`unknown command: warden ${name}`)
    const p = parseArgs(rest, SPECS[name] ?? {})
    if (p.flags.has('help')) { io.stdout.write(`usage:\n${CONTROL_USAGE}\n`); return 0 }
    const t = targetOf(p, io.env)
    // asked for first: on a piped stdin the admin password is the first line, a new user's the second
    const password = t.password ?? await readSecret(io, `password of ${t.username} at ${t.url}: `)
    if (password === undefined || password === '') throw usageError('no admin password: set WARDEN_ADMIN_PASSWORD (or type it at a terminal)')
    const target: ApiTarget = { url: t.url, username: t.username, password }
    await command({ p, io, api: (method, path, body) => callApi(target, method, path, body) })
    return 0
  } catch (err) {
    const code = exitCodeOf(err)
    const message = err instanceof Error ? err.message : String(err)
    const tag = isWardenError(err) ? ` (${err.code})` : ''
    io.stderr.write(`warden ${name}: ${message}${tag}\n`)
    if (code === 2) io.stderr.write(`usage:\n${CONTROL_USAGE}\n`)
    return code
  } finally {
    closeSecrets()
  }
}
