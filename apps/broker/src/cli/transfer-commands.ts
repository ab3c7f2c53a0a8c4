// `warden registry export` and `warden registry import <file>`: the whole registry (accounts with their
// password hashes, roles, registrations and schemas) to a file and back, to move it between stores.
import { readFile } from 'node:fs/promises'
import { usageError } from './args.js'
import { none, one, type CliCommand } from './command.js'

interface Imported { revision: number, users: number, roles: number, topics: number }

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
      ctx.io.stdout.write(ctx.p.flags.has('json')
        ? JSON.stringify(r, null, 2) + '\n'
        : `imported ${file}: the registry now holds ${r.users} users, ${r.roles} roles and ${r.topics} topics (revision ${r.revision})\n`)
    }
  }
}
