// The registry shared by the broker processes of a cluster: one Redis hash, changes announced on a channel.
import type { Redis } from 'ioredis'
import { connectRedis, describeTarget, type RedisTarget } from '../store/redis-connect.js'
import { WardenError } from '@warden/common'
import type { RegistryBackend } from './backend.js'
import { parseState } from './state-check.js'

export interface RedisBackendOptions {
  /** the hash holding `state` (JSON) and `revision`; the channel is `<key>:changed` */
  key?: string
}

// compare-and-set on the revision, so that two processes changing the registry at once cannot lose a change
const SAVE = `
local rev = tonumber(redis.call('HGET', KEYS[1], 'revision') or '0')
if rev ~= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'revision', ARGV[3])
redis.call('PUBLISH', KEYS[2], ARGV[3])
return 1`

export async function createRedisBackend (target: RedisTarget, { key = 'warden:registry' }: RedisBackendOptions = {}): Promise<RegistryBackend> {
  // with a Redis bus every MQTT topic is a Redis channel of the same name: U+0000, which no MQTT topic may
  // contain (MQTT-1.5.3-2), keeps clients off this one
  const channel = `${key}\u0000changed`
  const where = describeTarget(target)
  const location = `${where} ${key}`
  const conn = connectRedis(target, { lazyConnect: true, maxRetriesPerRequest: 3, sentinelRetryStrategy: () => null })
  // errors surface as failed commands; without a listener ioredis would also print each one. The first one
  // says why a connection failed (connect() itself only says "Connection is closed.")
  let connectError: Error | undefined
  conn.on('error', (err: Error) => { connectError ??= err })
  try {
    await conn.connect()
  } catch (err) {
    conn.disconnect()
    const why = (connectError ?? err as Error).message
    throw new WardenError('WARDEN_ERR_REGISTRY', `cannot reach Redis at ${where} (${target.sentinels === undefined ? 'redis.url' : 'redis.sentinels'}): ${why}`,
      { cause: connectError ?? err })
  }
  let sub: Redis | undefined

  return {
    kind: 'redis',
    location,
    async load () {
      const text = await conn.hget(key, 'state')
      return text === null ? undefined : parseState(text, location)
    },
    async save (next) {
      const rev = String(next.revision)
      const ok = await conn.eval(SAVE, 2, key, channel, JSON.stringify(next), String(next.revision - 1), rev)
      return ok === 1
    },
    watch (onChange) {
      // a subscriber connection can do nothing else; ioredis resubscribes after a reconnect
      sub = connectRedis(target, { enableReadyCheck: false })
      // only a revision number is an announcement: with a Redis bus, a client publishing to the topic named
      // like the channel puts a bus message on it, and each would make every process reload the registry
      sub.on('message', (_channel: string, message: string) => { if (/^\d+$/.test(message)) onChange() })
      // announcements sent while the connection was down are lost: reload after every reconnect
      let connects = 0
      sub.on('ready', () => { if (connects++ > 0) onChange() })
      sub.subscribe(channel).catch(() => {})
    },
    async close () {
      sub?.disconnect()
      await conn.quit().catch(() => conn.disconnect())
    }
  }
}
