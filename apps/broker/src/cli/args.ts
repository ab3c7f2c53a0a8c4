// A small argument parser for the `warden` control commands: positionals, --flags, repeatable --options.
import { WardenError } from '@warden/common'

export interface Spec {
  /** options taking a value; repeatable ones collect every value */
  readonly values?: readonly string[]
  readonly repeatable?: readonly string[]
  /** options without a value */
  readonly flags?: readonly string[]
  /** false: without the API's options (--url, --user, --json), for commands that need no broker */
  readonly common?: boolean
}

export interface Parsed {
  readonly positionals: string[]
  readonly values: Map<string, string[]>
  readonly flags: Set<string>
}

const COMMON_VALUES = ['url', 'user']
const COMMON_FLAGS = ['json', 'help']

export function usageError (message: string): WardenError {
  return new WardenError('WARDEN_ERR_USAGE', message)
}

export function parseArgs (argv: readonly string[], spec: Spec): Parsed {
  const values = new Map<string, string[]>()
  const flags = new Set<string>()
  const positionals: string[] = []
  const common = spec.common !== false
  const takesValue = new Set([...(common ? COMMON_VALUES : []), ...(spec.values ?? []), ...(spec.repeatable ?? [])])
  const isFlag = new Set([...(common ? COMMON_FLAGS : ['help']), ...(spec.flags ?? [])])
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (arg === '--') { positionals.push(...argv.slice(i + 1)); break }
    if (!arg.startsWith('--') || arg === '-') { positionals.push(arg); continue }
    const eq = arg.indexOf('=')
    const name = arg.slice(2, eq < 0 ? undefined : eq)
    if (isFlag.has(name) && eq < 0) { flags.add(name); continue }
    if (!takesValue.has(name)) throw usageError(`unknown option --${name}`)
    const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i]
    if (value === undefined || value === '') throw usageError(`--${name} needs a value`)
    const list = values.get(name) ?? []
    if (list.length > 0 && !(spec.repeatable ?? []).includes(name)) throw usageError(`--${name} is given twice`)
    list.push(value)
    values.set(name, list)
  }
  return { positionals, values, flags }
}

/** Values of a repeatable option; each may also be a comma-separated list. */
export function listOf (p: Parsed, name: string): string[] {
  return (p.values.get(name) ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '')
}
