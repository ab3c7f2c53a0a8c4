// One catalogue of Warden's coded errors: every code here is documented in docs/errors.md.

export const ERROR_CODES = {
  WARDEN_ERR_CONFIG_READ: 'The configuration file could not be read or parsed.',
  WARDEN_ERR_CONFIG_INVALID: 'The configuration does not match the schema; the message names the key.',
  WARDEN_ERR_PASSWORD_HASH: 'A passwordHash is not in the scrypt$N$r$p$salt$hash format.',
  WARDEN_ERR_TOPIC_FILTER: 'A topic filter in a registration or grant is not valid MQTT filter syntax.',
  WARDEN_ERR_UNKNOWN_ROLE: 'A user or the anonymous setting names a role that is not defined.',
  WARDEN_ERR_LISTEN: 'A listener could not bind its address or port.',
  WARDEN_ERR_PERSISTENCE: 'The persistence store could not be opened or closed.',
  WARDEN_ERR_SHUTDOWN_TIMEOUT: 'Graceful shutdown did not finish in time; the process exits anyway.',
  WARDEN_ERR_USAGE: 'A command-line invocation was malformed.'
} as const

export type ErrorCode = keyof typeof ERROR_CODES

export class WardenError extends Error {
  readonly code: ErrorCode

  constructor (code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'WardenError'
    this.code = code
  }
}

export function isWardenError (err: unknown): err is WardenError {
  return err instanceof WardenError
}
