// Where the CLI finds the broker and the admin's credentials: flags first, then WARDEN_* variables.
import type { Parsed } from './args.js'

export const DEFAULT_URL = 'http://127.0.0.1:8080'

export interface CliTarget {
  readonly url: string
  readonly username: string
  /** undefined: ask for it */
  readonly password: string | undefined
}

/** The only place the CLI reads the environment. */
export function targetOf (p: Parsed, env: NodeJS.ProcessEnv): CliTarget {
  const nonEmpty = (v: string | undefined): string | undefined => v === undefined || v === '' ? undefined : v
  return {
    url: p.values.get('url')?.[0] ?? nonEmpty(env.WARDEN_URL) ?? DEFAULT_URL,
    username: p.values.get('user')?.[0] ?? nonEmpty(env.WARDEN_ADMIN_USER) ?? 'admin',
    password: nonEmpty(env.WARDEN_ADMIN_PASSWORD)
  }
}
