// How WARDEN_* environment variables override a config file, the same way in the broker, producer and consumer.
import { WardenError } from './errors.js'
import { isRecord } from './config-file.js'

export type Env = Readonly<Record<string, string | undefined>>

/** One variable: `apply` writes its (trimmed, non-blank) value into the config data. */
export interface EnvOverride {
  readonly name: string
  readonly apply: (value: string, data: Record<string, unknown>) => void
}

/** A variable's value, trimmed; undefined when it is unset or blank (blank means "not overridden"). */
export function envValue (env: Env, name: string): string | undefined {
  const value = env[name]
  if (value === undefined) return undefined
  const trimmed = value.trim()
  return trimmed === '' ? undefined : trimmed
}

/**
 * Applies each set variable, in order, to `data` (a copy of the file's contents, changed in place) and returns
 * the names applied, for error messages that say where a value came from. An override is applied to the
 * data before the schema check, so a bad value is reported like a bad value in the file.
 */
export function applyEnvOverrides (data: Record<string, unknown>, env: Env, overrides: readonly EnvOverride[]): string[] {
  const applied: string[] = []
  for (const { name, apply } of overrides) {
    const value = envValue(env, name)
    if (value === undefined) continue
    apply(value, data)
    applied.push(name)
  }
  return applied
}

/** Sets `data.a.b` for path `a.b`, keeping the siblings of each level (a missing or non-object level starts empty). */
export function setConfigPath (data: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.')
  let at = data
  for (let i = 0; i < keys.length - 1; i++) {
    const key = keys[i] as string
    const next = at[key]
    const copy = isRecord(next) ? { ...next } : {}
    at[key] = copy
    at = copy
  }
  at[keys[keys.length - 1] as string] = value
}

/** An override variable's value is wrong: the message names the variable, what it takes, and what it got. */
export function envError (name: string, expected: string, value: string): WardenError {
  return new WardenError('WARDEN_ERR_CONFIG_INVALID', `${name}: must be ${expected}, got ${JSON.stringify(value)}`)
}

/** A port override (0-65535). */
export function parsePortEnv (name: string, value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined
  const n = Number(value)
  if (!/^\d{1,5}$/.test(value) || n > 65535) throw envError(name, 'a port number 0-65535', value)
  return n
}

/** An integer override; the schema checks its range afterwards. */
export function parseIntegerEnv (name: string, value: string): number {
  const n = Number(value)
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) throw envError(name, 'an integer', value)
  return n
}

/** A boolean override: true/false (also 1/0, yes/no, on/off, any case). */
export function parseBooleanEnv (name: string, value: string): boolean {
  const v = value.trim().toLowerCase()
  if (['true', '1', 'yes', 'on'].includes(v)) return true
  if (['false', '0', 'no', 'off'].includes(v)) return false
  throw envError(name, 'true or false', value)
}
