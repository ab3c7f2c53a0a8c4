// `warden registry export` and `warden registry import <file>`: the whole registry (accounts with their
// password hashes, roles, registrations and schemas) to a file and back, to move it between stores.
import { readFile } from 'node:fs/promises'
import { usageError } from './args.js'
import { none, one, type CliCommand } from './command.js'

interface Imported { revision: number, users: number, roles: number, topics: number, loginChanged?: string[], removed?: string[] }

async function readExport (file: string): Promise<unknown> {
  let text: string
  try { text = await readFile(file, 'utf8') } catch (err) { throw usageError(`${file}: ${(err as Error).message}`) }
  try { return JSON.parse(text) } catch (err) { throw usageError(`${file} is not JSON: ${(err as Error).message}`) }
}

export const TRANSFER_COMMANDS: Readonly<Record<string, CliCommand>> = {
  'registry export': {
    args: '> <file>',
    summary: 'the whole registry as JSON: accounts (password hashes, never plain passwords), roles, topics, schemas',
    async run (ctx) {
      none(ctx.p)
      ctx.io.stdout.write(JSON.stringify(await ctx.api('GET', '/api/v1/registry'), null, 2) + '\n')
    }
  },
  'registry import': {
    args: '<file>',
    summary: 'replace the registry with an export, all or nothing: every entry is checked as the API checks it',
    async run (ctx) {
      const file = one(ctx.p, 'file')
      const r = await ctx.api('PUT', '/api/v1/registry', await readExport(file)) as Imported
      if (ctx.p.flags.has('json')) { ctx.io.stdout.write(JSON.stringify(r, null, 2) + '\n'); return }
      ctx.io.stdout.write(`imported ${file}: the registry now holds ${r.users} users, ${r.roles} roles and ${r.topics} topics (revision ${r.revision})\n` +
        disconnected(r))
    }
  }
}

/** the accounts whose connected clients the import disconnected, a line for each kind (nothing when none) */
function disconnected ({ loginChanged = [], removed = [] }: Imported): string {
  const line = (what: string, names: string[]): string => names.length > 0 ? `accounts ${what} (their clients were disconnected): ${names.join(', ')}\n` : ''
  return line('whose login changed: password hash, loopback rule or id', loginChanged) + line('removed', removed)
}
