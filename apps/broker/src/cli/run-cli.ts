// `warden <command> …`: finds the command (or the group of `warden user|role|topic|session`), answers
// --help, asks for the admin password when the command talks to the broker, and turns errors into exit codes.
import { isWardenError } from '@warden/common'
import { ApiError, callApi } from './api-client.js'
import { parseArgs, usageError } from './args.js'
import { targetOf } from './cli-env.js'
import type { CliCommand, CliIo } from './command.js'
import { formatCommandHelp, formatUsage } from './help.js'
import { PASSWD_COMMAND } from './passwd-command.js'
import { READ_COMMANDS } from './read-commands.js'
import { REGISTRY_COMMANDS } from './registry-commands.js'
import { closeSecrets, readSecret } from './secret.js'
import { SESSION_COMMANDS } from './session-commands.js'
import { TRANSFER_COMMANDS } from './transfer-commands.js'

export type { CliIo } from './command.js'

/** in the order the full usage lists them */
const COMMANDS: ReadonlyMap<string, CliCommand> = new Map(Object.entries({
  status: READ_COMMANDS.status,
  clients: READ_COMMANDS.clients,
  fleet: READ_COMMANDS.fleet,
  sessions: SESSION_COMMANDS.sessions,
  denials: READ_COMMANDS.denials,
  groups: READ_COMMANDS.groups,
  ...REGISTRY_COMMANDS,
  ...Object.fromEntries(Object.entries(SESSION_COMMANDS).filter(([n]) => n !== 'sessions')),
  ...TRANSFER_COMMANDS,
  passwd: PASSWD_COMMAND
}) as Array<[string, CliCommand]>)

const GROUPS = new Set([...COMMANDS.keys()].filter((n) => n.includes(' ')).map((n) => n.split(' ')[0] as string))
const HELP = new Set(['--help', '-h', 'help'])

const FOOTER = '`warden <command> --help` shows one command\'s options.\n'
const usageOf = (prefix = ''): string => formatUsage([...COMMANDS].filter(([n]) => n.startsWith(prefix)), prefix === '' ? FOOTER : '')

type Found =
  | { readonly kind: 'command', readonly name: string, readonly command: CliCommand, readonly rest: readonly string[] }
  | { readonly kind: 'help', readonly text: string }
  | { readonly kind: 'usage', readonly name: string, readonly message: string, readonly text: string }

function find (argv: readonly string[]): Found {
  const [first, second] = argv
  if (first === undefined) return { kind: 'usage', name: '', message: 'which command?', text: usageOf() }
  if (HELP.has(first)) return argv.length > 1 ? find([...argv.slice(1), '--help']) : { kind: 'help', text: usageOf() }
  const top = COMMANDS.get(first)
  if (top !== undefined) return { kind: 'command', name: first, command: top, rest: argv.slice(1) }
  if (!GROUPS.has(first)) return { kind: 'usage', name: '', message: `unknown command ${JSON.stringify(first)}`, text: usageOf() }
  const group = usageOf(first + ' ')
  if (second === undefined) return { kind: 'usage', name: first, message: 'needs a subcommand', text: group }
  if (HELP.has(second)) return { kind: 'help', text: group }
  const name = `${first} ${second}`
  const command = COMMANDS.get(name)
  if (command === undefined) return { kind: 'usage', name: first, message: `unknown command: warden ${name}`, text: group }
  return { kind: 'command', name, command, rest: argv.slice(2) }
}

function exitCodeOf (err: unknown): number {
  if (!isWardenError(err)) return 1
  if (err.code === 'WARDEN_ERR_USAGE') return 2
  if (err.code === 'WARDEN_ERR_API_UNREACHABLE') return 3
  if (err instanceof ApiError && (err.status === 401 || err.status === 403)) return 4
  return 1
}

/** `--help` or `-h` before a `--` */
function asksHelp (rest: readonly string[]): boolean {
  const end = rest.indexOf('--')
  return (end < 0 ? rest : rest.slice(0, end)).some((a) => a === '--help' || a === '-h')
}

/** Runs `warden …` with these arguments; resolves with the exit code. */
export async function runCli (argv: readonly string[], io: CliIo): Promise<number> {
  const found = find(argv)
  if (found.kind === 'help') { io.stdout.write(found.text); return 0 }
  if (found.kind === 'usage') {
    io.stderr.write(`warden${found.name === '' ? '' : ' ' + found.name}: ${found.message} (WARDEN_ERR_USAGE)\n${found.text}`)
    return 2
  }
  const { name, command, rest } = found
  if (asksHelp(rest)) { io.stdout.write(formatCommandHelp(name, command)); return 0 }
  try {
    const p = parseArgs(rest, command.spec ?? {})
    if (command.api === false) {
      await command.run({ p, io, api: () => { throw new Error(`warden ${name} does not talk to the broker`) } })
      return 0
    }
    const t = targetOf(p, io.env)
    // asked for first: on a piped stdin the admin password is the first line, a new user's the second
    const password = t.password ?? await readSecret(io, `password of ${t.username} at ${t.url}: `)
    if (password === undefined || password === '') throw usageError('no admin password: set WARDEN_ADMIN_PASSWORD (or type it at a terminal)')
    const target = { url: t.url, username: t.username, password }
    await command.run({ p, io, api: (method, path, body) => callApi(target, method, path, body) })
    return 0
  } catch (err) {
    const code = exitCodeOf(err)
    const message = err instanceof Error ? err.message : String(err)
    const tag = isWardenError(err) ? ` (${err.code})` : ''
    io.stderr.write(`warden ${name}: ${message}${tag}\n`)
    if (code === 2) io.stderr.write(formatCommandHelp(name, command))
    return code
  } finally {
    closeSecrets()
  }
}
