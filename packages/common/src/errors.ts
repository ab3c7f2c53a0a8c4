// One catalogue of Warden's coded errors: every code here is documented in docs/errors.md.

export const ERROR_CODES = {
  WARDEN_ERR_CONFIG_READ: 'The configuration file could not be read or parsed.',
  WARDEN_ERR_CONFIG_MISSING: 'No configuration file was named (WARDEN_CONFIG), or the file is empty: the broker refuses to start on bare defaults.',
  WARDEN_ERR_CONFIG_INVALID: 'The configuration does not match the schema; the message names the key.',
  WARDEN_ERR_PASSWORD_HASH: 'A passwordHash is not in the scrypt$N$r$p$salt$hash format.',
  WARDEN_ERR_TOPIC_FILTER: 'A topic filter in a registration or grant is not valid MQTT filter syntax.',
  WARDEN_ERR_UNKNOWN_ROLE: 'A user or the anonymous setting names a role that is not defined.',
  WARDEN_ERR_LISTEN: 'A listener could not bind its address or port.',
  WARDEN_ERR_PERSISTENCE: 'The persistence store could not be opened or closed.',
  WARDEN_ERR_TLS: 'A TLS certificate, key or CA file could not be read or does not form a usable TLS setup.',
  WARDEN_ERR_SHUTDOWN_TIMEOUT: 'Graceful shutdown did not finish in time; the process exits anyway.',
  WARDEN_ERR_USAGE: 'A command-line invocation was malformed.',
  WARDEN_ERR_REGISTRY: 'The runtime registry of users and topics could not be read, parsed or written.',
  WARDEN_ERR_PAYLOAD_SCHEMA: 'A topic registration carries a JSON Schema that does not compile.',
  WARDEN_ERR_API_BAD_REQUEST: 'An API request or control command is malformed; the message names the field.',
  WARDEN_ERR_API_UNAUTHORIZED: 'An API request carried no credentials, or wrong ones.',
  WARDEN_ERR_API_FORBIDDEN: 'The authenticated account may not perform this API operation.',
  WARDEN_ERR_API_NOT_FOUND: 'The API path, user, role, topic registration or session does not exist.',
  WARDEN_ERR_API_CONFLICT: 'The change conflicts with the registry (already exists, or would leave no admin).',
  WARDEN_ERR_API_METHOD: 'The HTTP method is not supported on this API path.',
  WARDEN_ERR_API_TOO_LARGE: 'The request body is larger than the API accepts.',
  WARDEN_ERR_API_UNREACHABLE: 'The warden CLI could not reach the broker API.',
  WARDEN_ERR_API_THROTTLED: 'Too many failed API logins for this user from this address, or from this address: locked for a while.',
  WARDEN_ERR_API_LOGIN_PENDING: 'Too many API logins in progress for this user from this address, or from this address.',
  WARDEN_ERR_API_CSRF: 'A change sent with the dashboard\'s session cookie lacked its CSRF token, or carried another session\'s.',
  WARDEN_ERR_API_SESSIONS_FULL: 'The dashboard holds as many signed-in sessions as dashboard.maxSessions allows.',
  WARDEN_ERR_API_SESSIONS_UNAVAILABLE: 'The dashboard\'s signed-in sessions are kept in Redis (cluster mode), and Redis does not answer.',
  WARDEN_ERR_SESSION_STORE: 'The store of client-id bindings could not be read or written; the CONNECT is refused.',
  WARDEN_ERR_AEDES_CONTRACT: 'An aedes internal that Warden patches or reads is missing or has another shape: ' +
    'the installed aedes is not the version Warden was built for.',
  WARDEN_ERR_INTERNAL: 'An unexpected failure inside the broker; the details are in its log.'
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
