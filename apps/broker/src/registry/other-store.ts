// The registry of the store a broker is not using. When the one it opens was never written and the other
// store holds one, `persistence` was switched: without a word the broker would start from the config file's
// seeds and every account, role and registration made at run time would seem gone.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { WardenConfig } from '../config/schema.js'
import type { RegistryBackend } from './backend.js'
import { REGISTRY_FILE } from './file-backend.js'
import { createRedisBackend } from './redis-backend.js'
import type { RedisTarget } from '../store/redis-connect.js'
import { parseState } from './state-check.js'
import type { RegistryState } from './types.js'

export interface OtherRegistry {
  readonly kind: 'file' | 'redis'
  readonly location: string
  readonly state: RegistryState
}

/** how long a level broker waits for a Redis it does not use before it gives up looking there */
const PEEK_TIMEOUT_MS = 2000

/**
 * The registry the other store holds, or undefined: none there, or the other store cannot be read (a
 * broker on the file store does not know Redis unless `redis.url` is set). Never changes either store.
 */
export async function findOtherRegistry (config: WardenConfig, using: RegistryBackend): Promise<OtherRegistry | undefined> {
  if (using.kind === 'redis') return await peekFile(config.dataDir)
  if (using.kind === 'file' && config.redis !== undefined) return await peekRedis(config.redis)
  return undefined
}

async function peekFile (dataDir: string): Promise<OtherRegistry | undefined> {
  const path = join(dataDir, REGISTRY_FILE)
  try {
    return { kind: 'file', location: path, state: parseState(await readFile(path, 'utf8'), path) }
  } catch {
    return undefined
  }
}

async function peekRedis (target: RedisTarget): Promise<OtherRegistry | undefined> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<undefined>((resolve) => { timer = setTimeout(() => { resolve(undefined) }, PEEK_TIMEOUT_MS) })
  const peek = (async (): Promise<OtherRegistry | undefined> => {
    const backend = await createRedisBackend(target)
    try {
      const state = await backend.load()
      return state === undefined ? undefined : { kind: 'redis', location: backend.location, state }
    } finally {
      await backend.close()
    }
  })().catch(() => undefined)
  try {
    return await Promise.race([peek, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** The warning's text: both stores named, what the broker does now, and how to carry the registry over. */
export function switchedStoreMessage (using: RegistryBackend, other: OtherRegistry): string {
  const s = other.state
  const name = (kind: string): string => kind === 'redis' ? 'persistence: redis' : 'persistence: level'
  return `the registry of ${name(using.kind)} (${using.location}) is empty, but ${name(other.kind)} holds one ` +
    `(${other.location}: revision ${s.revision}, ${s.users.length} users, ${s.roles.length} roles, ${s.topics.length} topics); ` +
    'starting from the config file\'s seeds. To carry it over: start once more with ' +
    `${name(other.kind)}, run \`warden registry export > registry-export.json\`, start with ${name(using.kind)} again ` +
    'and run `warden registry import registry-export.json`'
}
