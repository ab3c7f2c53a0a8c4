// `warden user …`, `warden role …`, `warden topic …`: the registry's accounts, roles and topics through the API.
import { readFile } from 'node:fs/promises'
import { listOf, usageError } from './args.js'
import { one, print, yesNo, type CliCommand, type Ctx } from './command.js'
import { readSecret } from './secret.js'
import { formatTable } from './table.js'

interface UserView { username: string, roles: string[], loopbackOnly: boolean, connections: number, owns: string[] }
interface RoleView { name: string, subscribe: string[], builtin: boolean, users: number }
interface TopicView {
  filter: string, owners: string[], schema: unknown, subscribers: number, messages: number, messagesPerSecond: number, lastPublishAt: string | null
  /** on a registration or a change of owners: who it takes from, owners that do not exist */
  warnings?: Array<{ code: string, message: string, owners: string[], filter?: string }>
}

/** a registration's warnings, one line each after its answer (on stderr: stdout stays the answer) */
function warn (ctx: Ctx, data: TopicView): void {
  if (ctx.p.flags.has('json')) return
  for (const w of data.warnings ?? []) ctx.io.stderr.write(`warning: ${w.message}\n`)
}

const topicPath = (filter: string): string => `/api/v1/topics/${encodeURIComponent(filter)}`
const userPath = (name: string): string => `/api/v1/users/${encodeURIComponent(name)}`
const rolePath = (name: string): string => `/api/v1/roles/${encodeURIComponent(name)}`

async function newPassword (ctx: Ctx, name: string): Promise<string> {
  const pw = await readSecret(ctx.io, `new password for ${name}: `)
  if (pw === undefined || pw === '') throw usageError(`no password for ${name} on standard input`)
  return pw
}

export const REGISTRY_COMMANDS: Readonly<Record<string, CliCommand>> = {
  'user ls': {
    args: '',
    summary: 'list accounts',
    async run (ctx) {
      const data = await ctx.api('GET', '/api/v1/users') as { users: UserView[] }
      print(ctx, data, () => formatTable(['USERNAME', 'ROLES', 'LOOPBACK-ONLY', 'CONNECTIONS', 'OWNS'],
        data.users.map((u) => [u.username, u.roles.join(',') || '-', yesNo(u.loopbackOnly), String(u.connections), u.owns.join(',') || '-'])))
    }
  },
  'user add': {
    args: '<name> --role <r> [--role …] [--loopback-only] [--password-hash <h>]',
    summary: 'create an account; the password is read from stdin',
    details: ['--password-hash <h>  a hash from `warden passwd` instead of a password on stdin',
      '--loopback-only      the account may log in from this host only'],
    spec: { repeatable: ['role'], values: ['password-hash'], flags: ['loopback-only'] },
    async run (ctx) {
      const name = one(ctx.p, 'user name')
      const roles = listOf(ctx.p, 'role')
      const hash = ctx.p.values.get('password-hash')?.[0]
      const secret = hash !== undefined ? { passwordHash: hash } : { password: await newPassword(ctx, name) }
      const loopbackOnly = ctx.p.flags.has('loopback-only') ? { loopbackOnly: true } : {}
      const data = await ctx.api('POST', '/api/v1/users', { username: name, roles, ...secret, ...loopbackOnly }) as UserView
      print(ctx, data, () => `created user ${data.username} (roles: ${data.roles.join(', ') || 'none'})\n`)
    }
  },
  'user roles': {
    args: '<name> <role>… | --none',
    summary: 'replace an account\'s roles',
    spec: { flags: ['none'] },
    async run (ctx) {
      const [name, ...roles] = ctx.p.positionals
      if (name === undefined || (roles.length === 0 && !ctx.p.flags.has('none'))) throw usageError('expects a user name and its roles (or --none)')
      const data = await ctx.api('PATCH', userPath(name), { roles: roles.flatMap((r) => r.split(',')).filter((r) => r !== '') }) as UserView
      print(ctx, data, () => `user ${data.username} now has roles: ${data.roles.join(', ') || 'none'}\n`)
    }
  },
  'user passwd': {
    args: '<name>',
    summary: 'set a new password (read from stdin)',
    async run (ctx) {
      const name = one(ctx.p, 'user name')
      const data = await ctx.api('PATCH', userPath(name), { password: await newPassword(ctx, name) }) as UserView
      print(ctx, data, () => `changed the password of ${data.username}\n`)
    }
  },
  'user rm': {
    args: '<name>',
    summary: 'delete an account and disconnect its clients',
    async run (ctx) {
      const name = one(ctx.p, 'user name')
      const data = await ctx.api('DELETE', userPath(name)) as { username: string, removedFrom?: string[] } | undefined
      const removedFrom = data?.removedFrom ?? []
      const owned = removedFrom.length > 0 ? `; no longer an owner of ${removedFrom.join(', ')}` : ''
      print(ctx, { username: name, removedFrom }, () => `deleted user ${name}${owned}\n`)
    }
  },
  'role ls': {
    args: '',
    summary: 'roles with their read grants and holders',
    async run (ctx) {
      const data = await ctx.api('GET', '/api/v1/roles') as { roles: RoleView[] }
      print(ctx, data, () => formatTable(['ROLE', 'READS', 'BUILT-IN', 'USERS'],
        data.roles.map((r) => [r.name, r.subscribe.join(',') || '-', yesNo(r.builtin), String(r.users)])))
    }
  },
  'role add': {
    args: '<name> --read <filter> [--read …]',
    summary: 'define a role that may read these filters',
    spec: { repeatable: ['read'] },
    async run (ctx) {
      const name = one(ctx.p, 'role name')
      const data = await ctx.api('POST', '/api/v1/roles', { name, subscribe: listOf(ctx.p, 'read') }) as RoleView
      print(ctx, data, () => `created role ${data.name} (reads: ${data.subscribe.join(', ') || 'nothing'})\n`)
    }
  },
  'role set': {
    args: '<name> <filter>… | --none',
    summary: 'replace a role\'s read grants',
    spec: { flags: ['none'] },
    async run (ctx) {
      const [name, ...filters] = ctx.p.positionals
      if (name === undefined || (filters.length === 0 && !ctx.p.flags.has('none'))) throw usageError('expects a role name and its filters (or --none)')
      const data = await ctx.api('PATCH', rolePath(name), { subscribe: filters }) as RoleView
      print(ctx, data, () => `role ${data.name} now reads: ${data.subscribe.join(', ') || 'nothing'}\n`)
    }
  },
  'role rm': {
    args: '<name>',
    summary: 'delete a role no account holds',
    async run (ctx) {
      const name = one(ctx.p, 'role name')
      await ctx.api('DELETE', rolePath(name))
      print(ctx, { name }, () => `deleted role ${name}\n`)
    }
  },
  'topic ls': {
    args: '',
    summary: 'registrations with owners, subscribers and rates',
    async run (ctx) {
      const data = await ctx.api('GET', '/api/v1/topics') as { topics: TopicView[] }
      print(ctx, data, () => formatTable(['FILTER', 'OWNERS', 'SCHEMA', 'SUBSCRIBERS', 'MESSAGES', 'MSG/S', 'LAST PUBLISH'],
        data.topics.map((t) => [
          t.filter, t.owners.join(','), yesNo(t.schema !== null), String(t.subscribers), String(t.messages),
          t.messagesPerSecond.toFixed(1), t.lastPublishAt ?? '-'
        ])))
    }
  },
  'topic register': {
    args: '<filter> --owner <u> [--owner …] [--schema <file.json>] [--update]',
    summary: 'register a topic (--update changes an existing one)',
    details: ['--schema <file.json>  a JSON Schema every payload published under the filter must satisfy',
      '--update              change an existing registration (owners and/or schema) instead of creating one'],
    spec: { repeatable: ['owner'], values: ['schema'], flags: ['update'] },
    async run (ctx) {
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
      const withSchema = data.schema !== null ? '; payload schema' : ''
      print(ctx, data, () => `${update ? 'updated' : 'registered'} ${data.filter} (owners: ${data.owners.join(', ')}${withSchema})\n`)
      warn(ctx, data)
    }
  },
  'topic rm': {
    args: '<filter>',
    summary: 'delete a registration',
    async run (ctx) {
      const filter = one(ctx.p, 'topic filter')
      await ctx.api('DELETE', topicPath(filter))
      print(ctx, { filter }, () => `deleted registration ${filter}\n`)
    }
  }
}
