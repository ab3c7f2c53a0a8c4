// The registry as a file an admin carries from one store to another: `warden registry export` writes it,
// `warden registry import` checks every entry with the rules the API applies and replaces the registry with it.
import { FieldError } from './field-error.js'
import type { PayloadSchemas } from './payload-schema.js'
import type { RegistryState, StoredRole, StoredTopic, StoredUser } from './types.js'
import { BUILTIN_ROLES, checkGrants, checkPasswordHash, checkRegistration, checkRoles } from './validate.js'
import { ROLE_NAME_MAX, ROLE_NAME_PATTERN, USERNAME_MAX, USERNAME_PATTERN } from '../policy/registration.js'

export const EXPORT_KIND = 'warden-registry'

/** Accounts carry their password hashes (never a plain password): the file is as secret as the registry. */
export interface RegistryExport {
  readonly kind: typeof EXPORT_KIND
  readonly format: 1
  readonly exportedAt: string
  /** where it came from, for people */
  readonly source?: { readonly backend: string, readonly location: string, readonly revision: number }
  readonly users: readonly StoredUser[]
  readonly roles: readonly StoredRole[]
  readonly topics: readonly StoredTopic[]
  /** config-file entries the source had imported once: the target must not import them again either */
  readonly seeded: RegistryState['seeded']
}

/** What an import replaces the registry's entries with. */
export type ImportedEntries = Pick<RegistryState, 'users' | 'roles' | 'topics' | 'seeded'>

const names = { type: 'array', items: { type: 'string' } }
const MAX_ENTRIES = 100_000

/** The shape of an export; every field's content is then checked by checkImport. */
export const exportSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['kind', 'format', 'users', 'roles', 'topics'],
  properties: {
    kind: { const: EXPORT_KIND },
    format: { const: 1 },
    exportedAt: { type: 'string' },
    source: { type: 'object' },
    users: {
      type: 'array',
      maxItems: MAX_ENTRIES,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['username', 'passwordHash', 'roles', 'loopbackOnly'],
        properties: {
          id: { type: 'string', minLength: 1, maxLength: 128 },
          username: { type: 'string', minLength: 1, maxLength: USERNAME_MAX, pattern: USERNAME_PATTERN },
          passwordHash: { type: 'string', minLength: 1, maxLength: 1024 },
          roles: { type: 'array', maxItems: 64, uniqueItems: true, items: { type: 'string', minLength: 1, maxLength: ROLE_NAME_MAX } },
          loopbackOnly: { type: 'boolean' }
        }
      }
    },
    roles: {
      type: 'array',
      maxItems: MAX_ENTRIES,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'subscribe'],
        properties: {
          name: { type: 'string', minLength: 1, maxLength: ROLE_NAME_MAX, pattern: ROLE_NAME_PATTERN },
          subscribe: { type: 'array', maxItems: 1000, uniqueItems: true, items: { type: 'string', minLength: 1, maxLength: 4096 } }
        }
      }
    },
    topics: {
      type: 'array',
      maxItems: MAX_ENTRIES,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['filter', 'owners'],
        properties: {
          filter: { type: 'string', minLength: 1, maxLength: 4096 },
          owners: { type: 'array', maxItems: 10000, uniqueItems: true, items: { type: 'string', minLength: 1, maxLength: USERNAME_MAX } },
          schema: { type: 'object' }
        }
      }
    },
    seeded: {
      type: 'object',
      additionalProperties: false,
      properties: { users: names, topics: names, roles: names }
    }
  }
} as const

export function toExport (state: RegistryState, source: { backend: string, location: string }): RegistryExport {
  return {
    kind: EXPORT_KIND,
    format: 1,
    exportedAt: new Date().toISOString(),
    source: { ...source, revision: state.revision },
    users: state.users,
    roles: state.roles,
    topics: state.topics,
    seeded: state.seeded
  }
}

/**
 * Checks every entry of an export (already shaped by exportSchema) with the API's rules and returns the
 * entries to store; throws a FieldError naming the first bad entry (`users[3].roles[0]`, with its name).
 */
export function checkImport (doc: RegistryExport, schemas: PayloadSchemas): Omit<ImportedEntries, 'seeded'> & { seeded: Partial<RegistryState['seeded']> } {
  const roleNames = new Set(BUILTIN_ROLES)
  doc.roles.forEach((r, i) => {
    const at = `roles[${i}]`
    if (doc.roles.findIndex((o) => o.name === r.name) !== i) throw entryError(at, 'name', `role ${JSON.stringify(r.name)} is given twice`)
    named(() => { checkGrants(r.subscribe, `${at}.subscribe`) }, `role ${JSON.stringify(r.name)}`)
    roleNames.add(r.name)
  })
  doc.users.forEach((u, i) => {
    const at = `users[${i}]`
    const who = `user ${JSON.stringify(u.username)}`
    if (doc.users.findIndex((o) => o.username === u.username) !== i) throw entryError(at, 'username', `${who} is given twice`)
    named(() => { checkRoles(u.roles, roleNames, `${at}.roles`) }, who)
    named(() => { checkPasswordHash(u.passwordHash, `${at}.passwordHash`) }, who)
  })
  doc.topics.forEach((t, i) => {
    const at = `topics[${i}]`
    const what = `topic ${JSON.stringify(t.filter)}`
    if (doc.topics.findIndex((o) => o.filter === t.filter) !== i) throw entryError(at, 'filter', `${what} is given twice`)
    named(() => { checkRegistration(t.filter, t.owners, at) }, what)
    if (t.schema !== undefined) named(() => { schemas.check(t.schema as Readonly<Record<string, unknown>>, `${at}.schema`) }, what)
  })
  if (!doc.users.some((u) => u.roles.includes('admin'))) {
    throw new FieldError('WARDEN_ERR_API_BAD_REQUEST', 'users', 'no account holds the admin role: nobody could use the control plane after this import')
  }
  return { users: doc.users, roles: doc.roles, topics: doc.topics, seeded: doc.seeded ?? {} }
}

function entryError (at: string, field: string, message: string): FieldError {
  return new FieldError('WARDEN_ERR_API_BAD_REQUEST', `${at}.${field}`, message)
}

/** Runs a check and names the entry in its message: `users[3].roles[0]: role "pilot" is not defined … (user "x")`. */
function named (check: () => void, who: string): void {
  try {
    check()
  } catch (err) {
    if (!(err instanceof FieldError)) throw err
    throw new FieldError(err.code, err.field, `${err.message.slice(err.field.length + 2)} (${who})`)
  }
}
