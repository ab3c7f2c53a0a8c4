// `warden registry export` and `warden registry import <file>`: the whole registry (accounts with their
// password hashes, roles, registrations and schemas) to a file and back, to move it between stores.
import { readFile } from 'node:fs/promises'
import { isWardenError } from '@warden/common'
import { callApi } from './api-client.js'
import { parseArgs, usageError } from './args.js'
import { targetOf } from './cli-env.js'
import { exitCodeOf, type CliIo } from './control-cli.js'
import { closeSecrets, readSecret } from './secret.js'

export const REGISTRY_USAGE = `  warden registry export > <file>                 the whole registry as JSON: accounts (password hashes, never
                                                  plain passwords), roles, registrations and their schemas
  warden registry import <file>                   replace the registry with an export, all or nothing: every
                                                  entry is checked as the API checks it, the first bad one named`

interface Imported { revision: number, users: number, roles: number, topics: number }

/** Runs `warden registry <verb> …`; resolves with the exit code (those of the other control commands). */
export async function runRegistryCli (argv: readonly string[], io: CliIo): Promise<number> {
  const [verb, ...rest] = argv
  const name = `registry${verb === undefined ? '' : ` ${verb}`}`
  try {
    if (verb !== 'export' && verb !== 'import') throw usageError(`unknown command: warden ${name}`)
    const p = parseArgs(rest, {})
    if (p.flags.has('help')) { io.stdout.write(`usage:\n${REGISTRY_USAGE}\n`); return 0 }
    if (p.positionals.length !== (verb === 'import' ? 1 : 0)) throw usageError(verb === 'import' ? 'expects exactly one file' : 'takes no arguments (redirect its output to a file)')
    // read before asking for a password: a typo in the path is said at once
    let doc: unknown
    const file = p.positionals[0]
    if (file !== undefined) {
      let text: string
      try { text = await readFile(file, 'utf8') } catch (err) { throw usageError(`${file}: ${(err as Error).message}`) }
      try { doc = JSON.parse(text) } catch (err) { throw usageError(`${file} is not JSON: ${(err as Error).message}`) }
    }
    const t = targetOf(p, io.env)
    const password = t.password ?? await readSecret(io, `password of ${t.username} at ${t.url}: `)
    if (password === undefined || password === '') throw usageError('no admin password: set WARDEN_ADMIN_PASSWORD (or type it at a terminal)')
    const target = { url: t.url, username: t.username, password }
    if (verb === 'export') {
      io.stdout.write(JSON.stringify(await callApi(target, 'GET', '/api/v1/registry'), null, 2) + '\n')
      return 0
    }
    const r = await callApi(target, 'PUT', '/api/v1/registry', doc) as Imported
    io.stdout.write(p.flags.has('json')
      ? JSON.stringify(r, null, 2) + '\n'
      : `imported ${file ?? ''}: the registry now holds ${r.users} users, ${r.roles} roles and ${r.topics} topics (revision ${r.revision})\n`)
    return 0
  } catch (err) {
    const code = exitCodeOf(err)
    io.stderr.write(`warden ${name}: ${err instanceof Error ? err.message : String(err)}${isWardenError(err) ? ` (${err.code})` : ''}\n`)
    if (code === 2) io.stderr.write(`usage:\n${REGISTRY_USAGE}\n`)
    return code
  } finally {
    closeSecrets()
  }
}
