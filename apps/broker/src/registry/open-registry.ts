// Opens the registry at start: picks the backend for the persistence kind, loads it, imports config seeds.
import { WardenError, type Logger } from '@warden/common'
import { hashPassword, parsePasswordHash } from '../auth/password.js'
import type { WardenConfig } from '../config/schema.js'
import type { RegistryBackend } from './backend.js'
import { createFileBackend } from './file-backend.js'
import { createLiveRules, type LiveRules } from './live-rules.js'
import { createMemoryBackend } from './memory-backend.js'
import { findOtherRegistry, switchedStoreMessage } from './other-store.js'
import { PayloadSchemas } from './payload-schema.js'
import { createRedisBackend } from './redis-backend.js'
import { Registry, roleNamesOf } from './registry.js'
import { seedFromConfig } from './seed.js'
import { emptyState, type RegistryState } from './types.js'

export interface RegistryRuntime {
  readonly registry: Registry
  readonly rules: LiveRules
  close (): Promise<void>
}

export interface OpenOptions {
  logger: Logger
  /** hashes plain passwords (seeds, API); scrypt with the default cost unless a test says otherwise */
  hash?: (password: string) => Promise<string>
}

export async function createBackend (config: WardenConfig): Promise<RegistryBackend> {
  if (config.persistence === 'memory') return createMemoryBackend()
  if (config.persistence === 'redis' && config.redis !== undefined) return await createRedisBackend(config.redis)
  return await createFileBackend(config.dataDir)
}

export async function openRegistry (config: WardenConfig, { logger, hash = hashPassword }: OpenOptions): Promise<RegistryRuntime> {
  const log = logger.child({ component: 'registry' })
  const backend = await createBackend(config)
  try {
    if (await backend.load() === undefined) {
      const other = await findOtherRegistry(config, backend)
      if (other !== undefined) log.warn({ using: backend.location, other: other.location }, switchedStoreMessage(backend, other))
    }
    const { state, added, overridden } = await loadAndSeed(backend, config, hash)
    checkStored(state, backend.location)
    const roleNames = roleNamesOf(state)
    const unknownRoles = state.users.flatMap((u) => u.roles.filter((r) => !roleNames.has(r)).map((r) => `${u.username}: ${r}`))
    if (unknownRoles.length > 0) log.warn({ roles: unknownRoles }, 'registry accounts hold roles the registry does not define: they grant nothing')
    log.info({
      backend: backend.kind, location: backend.location, revision: state.revision,
      users: state.users.length, roles: state.roles.length, topics: state.topics.length, imported: added
    }, 'registry loaded')
    if (overridden.length > 0) {
      log.warn({ entries: overridden },
        'config entries differ from the registry, which wins (they were changed at run time): change them with the API or `warden` CLI')
    }
    const plain = config.users.filter((u) => u.password !== undefined && state.users.some((s) => s.username === u.username)).map((u) => u.username)
    if (plain.length > 0 && !config.behindProxy) {
      log.warn({ users: plain }, 'accounts with plain-text passwords (demo only): accepted from loopback clients alone')
    }
    const loopbackOnly = state.users.filter((u) => u.loopbackOnly).map((u) => u.username)
    if (loopbackOnly.length > 0 && config.behindProxy) {
      log.warn({ users: loopbackOnly }, 'behindProxy is set: loopback-only accounts (plain-text passwords included) are refused from every address')
    }

    const schemas = new PayloadSchemas()
    const registry = new Registry({ backend, initial: state, anonymousRole: config.anonymous, schemas, hash, logger: log })
    const rules = await createLiveRules(registry, {
      anonymous: config.anonymous,
      trustLoopback: !config.behindProxy,
      unregistered: config.unregisteredTopics,
      replies: config.replies,
      schemas,
      logger: log,
      cacheTtlMs: config.limits.login.cacheTtlMs
    })
    return { registry, rules, close: () => registry.close() }
  } catch (err) {
    await backend.close().catch(() => {})
    throw err
  }
}

async function loadAndSeed (
  backend: RegistryBackend, config: WardenConfig, hash: (p: string) => Promise<string>
): Promise<Awaited<ReturnType<typeof seedFromConfig>>> {
  // several broker processes of a cluster may seed at once: the loser loads what the winner stored
  for (let attempt = 0; attempt < 5; attempt++) {
    const stored = await backend.load() ?? emptyState()
    const seeded = await seedFromConfig(stored, config.users, config.topics, hash, config.roles)
    if (seeded.state === stored || await backend.save(seeded.state)) return seeded
  }
  throw new WardenError('WARDEN_ERR_REGISTRY', `cannot seed the registry at ${backend.location}: it kept changing`)
}

/** A stored registry was edited by hand or by another version: refuse what the rules could not use. */
function checkStored (state: RegistryState, where: string): void {
  state.users.forEach((u, i) => {
    try { parsePasswordHash(u.passwordHash) } catch (err) {
      throw new WardenError('WARDEN_ERR_REGISTRY', `registry ${where}: users[${i}].passwordHash: ${(err as Error).message}`)
    }
  })
}
