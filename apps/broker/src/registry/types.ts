// The runtime registry's records: accounts, roles and topic registrations as stored, and the stored state.

export interface StoredUser {
  /**
   * Made when the account is created, never reused: a name deleted and created again is another account
   * (its wills stored before, its connections, are not the new one's). Absent in registries stored before.
   */
  readonly id?: string
  readonly username: string
  /** scrypt$N$r$p$salt$hash — plain passwords never reach the registry */
  readonly passwordHash: string
  readonly roles: readonly string[]
  readonly loopbackOnly: boolean
}

/**
 * The same account (id) with the same password hash and loopback rule: what a connected client proved at login
 * still holds. Otherwise its clients are disconnected (a registry import counts: a hash salted anew differs).
 */
export function keepsLogin (before: StoredUser, after: StoredUser): boolean {
  return before.id === after.id && before.passwordHash === after.passwordHash && before.loopbackOnly === after.loopbackOnly
}

/** A role: the topic filters its holders may read ({username}/{clientid} templates allowed). */
export interface StoredRole {
  readonly name: string
  readonly subscribe: readonly string[]
}

export interface StoredTopic {
  readonly filter: string
  readonly owners: readonly string[]
  /** JSON Schema every owner's payload must pass */
  readonly schema?: Readonly<Record<string, unknown>>
}

/** What a backend stores: the whole registry, with a revision that grows by one per change. */
export interface RegistryState {
  readonly format: 1
  readonly revision: number
  readonly updatedAt: string
  /** config-file entries already imported once: the registry wins over them from then on */
  readonly seeded: { readonly users: readonly string[], readonly topics: readonly string[], readonly roles: readonly string[] }
  readonly users: readonly StoredUser[]
  readonly roles: readonly StoredRole[]
  readonly topics: readonly StoredTopic[]
}

export function emptyState (): RegistryState {
  return { format: 1, revision: 0, updatedAt: new Date(0).toISOString(), seeded: { users: [], topics: [], roles: [] }, users: [], roles: [], topics: [] }
}

/**
 * A registry stored before roles lived in it has neither `roles` nor `seeded.roles`: the config file's roles
 * are then imported at the next start, like any entry never seen.
 */
export function withRoles (
  s: Omit<RegistryState, 'roles' | 'seeded'> & {
    roles?: readonly StoredRole[], seeded: { users: readonly string[], topics: readonly string[], roles?: readonly string[] }
  }
): RegistryState {
  return { ...s, roles: s.roles ?? [], seeded: { ...s.seeded, roles: s.seeded.roles ?? [] } }
}

/** A JSON Schema of RegistryState: a stored registry is checked before anything in it is trusted. */
export const stateSchema = {
  type: 'object',
  required: ['format', 'revision', 'updatedAt', 'seeded', 'users', 'topics'],
  additionalProperties: false,
  properties: {
    format: { const: 1 },
    revision: { type: 'integer', minimum: 0 },
    updatedAt: { type: 'string' },
    seeded: {
      type: 'object',
      required: ['users', 'topics'],
      additionalProperties: false,
      properties: {
        users: { type: 'array', items: { type: 'string' } },
        topics: { type: 'array', items: { type: 'string' } },
        roles: { type: 'array', items: { type: 'string' } }
      }
    },
    roles: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'subscribe'],
        additionalProperties: false,
        properties: {
          name: { type: 'string', minLength: 1 },
          subscribe: { type: 'array', items: { type: 'string', minLength: 1 } }
        }
      }
    },
    users: {
      type: 'array',
      items: {
        type: 'object',
        required: ['username', 'passwordHash', 'roles', 'loopbackOnly'],
        additionalProperties: false,
        properties: {
          id: { type: 'string', minLength: 1 },
          username: { type: 'string', minLength: 1 },
          passwordHash: { type: 'string', minLength: 1 },
          roles: { type: 'array', items: { type: 'string' } },
          loopbackOnly: { type: 'boolean' }
        }
      }
    },
    topics: {
      type: 'array',
      items: {
        type: 'object',
        required: ['filter', 'owners'],
        additionalProperties: false,
        properties: {
          filter: { type: 'string', minLength: 1 },
          owners: { type: 'array', items: { type: 'string' } },
          schema: { type: 'object' }
        }
      }
    }
  }
} as const
