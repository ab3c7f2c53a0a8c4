// What one `warden` command is: its usage line, a one-line summary, its options, and what it does.
import type { Parsed, Spec } from './args.js'
import { usageError } from './args.js'
import type { SecretIo } from './secret.js'

export interface CliIo extends SecretIo {
  readonly env: NodeJS.ProcessEnv
  readonly stdout: { write (s: string): unknown }
}

export interface Ctx {
  readonly p: Parsed
  readonly io: CliIo
  /** the broker's HTTP API, as the admin (asked for only when a command calls it) */
  readonly api: (method: string, path: string, body?: unknown) => Promise<unknown>
}

export interface CliCommand {
  /** after `warden <name> `: arguments and options */
  readonly args: string
  readonly summary: string
  /** more lines for `--help`: options, what is read from stdin */
  readonly details?: readonly string[]
  readonly spec?: Spec
  /** false: works without a broker (no URL, no admin password) */
  readonly api?: boolean
  readonly run: (ctx: Ctx) => Promise<void>
}

/** `--json`: the API's data for scripts; otherwise the human form. */
export function print (ctx: Ctx, data: unknown, human: () => string): void {
  ctx.io.stdout.write(ctx.p.flags.has('json') ? JSON.stringify(data, null, 2) + '\n' : human())
}

export function one (p: Parsed, what: string): string {
  if (p.positionals.length !== 1) throw usageError(`expects exactly one ${what}`)
  return p.positionals[0] as string
}

export function none (p: Parsed): void {
  if (p.positionals.length > 0) throw usageError('takes no arguments')
}

/** `--limit N` */
export function limitOf (p: Parsed): number | undefined {
  const v = p.values.get('limit')?.[0]
  if (v === undefined) return undefined
  if (!/^[1-9]\d{0,5}$/.test(v)) throw usageError('--limit must be a positive integer')
  return Number(v)
}

/** `--limit N`, passed to the API as `?limit=N` */
export function limitQuery (p: Parsed): string {
  const n = limitOf(p)
  return n === undefined ? '' : `?limit=${n}`
}

/** a footnote when the API left rows out: on stderr, so that stdout stays a table */
export function noteShown (ctx: Ctx, rows: number, total: number): void {
  if (rows < total && !ctx.p.flags.has('json')) ctx.io.stderr.write(`(${rows} of ${total} shown; --limit to see more)\n`)
}

export const yesNo = (b: boolean): string => b ? 'yes' : 'no'
