// Imports the config file's users, roles and topics into the registry, each entry once: the registry wins after.
import { randomUUID } from 'node:crypto'
import type { TopicConfig, UserConfig } from '../config/schema.js'
import type { RegistryState, StoredRole, StoredTopic, StoredUser } from './types.js'

export interface SeedResult {
  readonly state: RegistryState
  /** config entries imported now */
  readonly added: readonly string[]
  /** config entries imported before whose registry entry differs (changed or deleted at run time) */
  readonly overridden: readonly string[]
}

/**
 * A config entry is imported when the registry has never seen its username or filter. Once imported, the
 * registry is its source of truth: a change or deletion made at run time survives restarts, even though the
 * file still says otherwise. Entries added to the file later are imported at the next start.
 */
export async function seedFromConfig (
  state: RegistryState,
  users: readonly UserConfig[],
  topics: readonly TopicConfig[],
  hash: (password: string) => Promise<string>,
  roles: Readonly<Record<string, { readonly subscribe: readonly string[] }>> = {}
): Promise<SeedResult> {
  const seededUsers = new Set(state.seeded.users)
  const seededTopics = new Set(state.seeded.topics)
  const byName = new Map(state.users.map((u) => [u.username, u]))
  const byFilter = new Map(state.topics.map((t) => [t.filter, t]))
  const added: string[] = []
  const overridden: string[] = []

  const newUsers = users.filter((u) => !seededUsers.has(u.username) && !byName.has(u.username))
  const hashes = await Promise.all(newUsers.map((u) => u.passwordHash ?? hash(u.password as string)))
  const outUsers = [...state.users]
  newUsers.forEach((u, i) => {
    const stored: StoredUser = {
      id: randomUUID(),
      username: u.username,
      passwordHash: hashes[i] as string,
      roles: [...u.roles],
      // plain demo passwords stay loopback-only once hashed
      loopbackOnly: u.password !== undefined || u.loopbackOnly === true
    }
    outUsers.push(stored)
    added.push(`user ${u.username}`)
  })
  for (const u of users) {
    if (newUsers.includes(u)) continue
    const have = byName.get(u.username)
    // a plain demo password cannot be compared without scrypt; a hash can
    const differs = have === undefined || !sameList(have.roles, u.roles) ||
      (u.passwordHash !== undefined && have.passwordHash !== u.passwordHash) ||
      have.loopbackOnly !== (u.password !== undefined || u.loopbackOnly === true)
    if (differs) overridden.push(`user ${u.username}`)
  }

  const outTopics = [...state.topics]
  for (const t of topics) {
    const have = byFilter.get(t.filter)
    if (!seededTopics.has(t.filter) && have === undefined) {
      outTopics.push(toStoredTopic(t))
      added.push(`topic ${t.filter}`)
    } else if (have === undefined || !sameList(have.owners, t.owners) || JSON.stringify(have.schema) !== JSON.stringify(t.schema)) {
      overridden.push(`topic ${t.filter}`)
    }
  }

  const seededRoles = new Set(state.seeded.roles)
  const byRole = new Map(state.roles.map((r) => [r.name, r]))
  const outRoles = [...state.roles]
  for (const [name, role] of Object.entries(roles)) {
    const have = byRole.get(name)
    if (!seededRoles.has(name) && have === undefined) {
      outRoles.push({ name, subscribe: [...role.subscribe] } satisfies StoredRole)
      added.push(`role ${name}`)
    } else if (have === undefined || !sameList(have.subscribe, role.subscribe)) {
      overridden.push(`role ${name}`)
    }
  }

  const newSeeds = users.some((u) => !seededUsers.has(u.username)) ||
    topics.some((t) => !seededTopics.has(t.filter)) ||
    Object.keys(roles).some((r) => !seededRoles.has(r))
  if (!newSeeds) return { state, added, overridden }
  return {
    state: {
      ...state,
      revision: state.revision + 1,
      updatedAt: new Date().toISOString(),
      seeded: {
        users: [...new Set([...state.seeded.users, ...users.map((u) => u.username)])],
        topics: [...new Set([...state.seeded.topics, ...topics.map((t) => t.filter)])],
        roles: [...new Set([...state.seeded.roles, ...Object.keys(roles)])]
      },
      users: outUsers,
      roles: outRoles,
      topics: outTopics
    },
    added,
    overridden
  }
}

function toStoredTopic (t: TopicConfig): StoredTopic {
  return { filter: t.filter, owners: [...t.owners], ...(t.schema !== undefined ? { schema: t.schema } : {}) }
}

function sameList (a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}
