// Client-id bindings shared by the broker processes of a cluster: one Redis hash, changed only by
// compare-and-set scripts, so that two CONNECTs of different accounts on two workers cannot both win.
import { connectRedis, type RedisTarget } from './redis-connect.js'
import type { Binding } from '../policy/client-id-binding.js'
import type { BindingStore } from './binding-store.js'

const KEY = 'warden:client-ids'
// with a Redis bus every MQTT topic is a Redis channel of the same name: U+0000, which no MQTT topic may
// contain (MQTT-1.5.3-2), keeps clients off this one
const KICK_CHANNEL = 'warden:client-ids\u0000kick'
const ALIVE = 'warden:broker-alive:'
/** a worker SIGKILLed stops refreshing its key; its clean sessions' ids are free within ALIVE_TTL_MS */
const ALIVE_REFRESH_MS = 5000
const ALIVE_TTL_MS = 15000

// ARGV: client id, the expected binding's connection ('' = none), the new binding as JSON ('' = remove)
const SWAP = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local conn = ''
if cur then conn = cjson.decode(cur).conn end
if conn ~= ARGV[2] then return 0 end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
return 1`

export async function createRedisBindings (target: RedisTarget, brokerId: string): Promise<BindingStore> {
  const conn = connectRedis(target, { maxRetriesPerRequest: 3 })
  const sub = connectRedis(target, { enableReadyCheck: false })
  // failures surface as failed commands (a refused CONNECT); without listeners ioredis prints each one
  conn.on('error', () => {})
  sub.on('error', () => {})
  const kickListeners: Array<(clientId: string) => void> = []
  sub.on('message', (_channel: string, clientId: string) => { for (const l of kickListeners) l(clientId) })
  await sub.subscribe(KICK_CHANNEL)
  const aliveKey = ALIVE + brokerId
  const beat = (): void => { conn.set(aliveKey, '1', 'PX', ALIVE_TTL_MS).catch(() => {}) }
  await conn.set(aliveKey, '1', 'PX', ALIVE_TTL_MS)
  const timer = setInterval(beat, ALIVE_REFRESH_MS)
  timer.unref()

  const parse = (text: string | null | undefined): Binding | undefined => text == null ? undefined : JSON.parse(text) as Binding
  const swap: BindingStore['swap'] = async (clientId, expected, next) =>
    await conn.eval(SWAP, 1, KEY, clientId, expected?.conn ?? '', next === undefined ? '' : JSON.stringify(next)) === 1

  return {
    async get (clientId) { return parse(await conn.hget(KEY, clientId)) },
    async list () { return Object.entries(await conn.hgetall(KEY)).map(([id, text]) => [id, JSON.parse(text) as Binding]) },
    swap,
    async removeAccount (account) {
      const removed: string[] = []
      for (const [id, text] of Object.entries(await conn.hgetall(KEY))) {
        const b = parse(text)
        if (b?.account === account && await swap(id, b, undefined)) removed.push(id)
      }
      return removed
    },
    async brokerAlive (id) { return await conn.exists(ALIVE + id) === 1 },
    async kick (clientId) { await conn.publish(KICK_CHANNEL, clientId) },
    onKick (listener) { kickListeners.push(listener) },
    async close () {
      clearInterval(timer)
      await conn.del(aliveKey).catch(() => {})
      sub.disconnect()
      await conn.quit().catch(() => conn.disconnect())
    }
  }
}
