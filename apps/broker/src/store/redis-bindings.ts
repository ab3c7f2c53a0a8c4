// Client-id bindings shared by the broker processes of a cluster: one Redis hash, changed only by
// compare-and-set scripts, so that two CONNECTs of different accounts on two workers cannot both win.
import { connectRedis, type RedisTarget } from './redis-connect.js'
import type { Binding } from '../policy/client-id-binding.js'
import type { BindingStore } from './binding-store.js'

const KEY = 'warden:client-ids'
// with a Redis bus every MQTT topic is a Redis channel of the same name: U+0000, which no MQTT topic may
// contain (MQTT-1.5.3-2), keeps clients off this one
const KICK_CHANNEL = 'warden:client-ids\u0000kick'
/**
 * a takeover asked of one process ({ id, to, from, n, ends: the CONNECT has Clean Start 1 }), and its answer ({ n, to }).
 * Asked on the process's own channel (TAKEOVER_CHANNEL + U+0000 + its id), whose PUBLISH tells how many heard it:
 * none, and the process is gone (killed: Redis closed its connections), so nobody is waited for. Processes of an
 * earlier version (alive key '1') hear takeovers only on the shared channel, which every process still answers.
 */
const TAKEOVER_CHANNEL = 'warden:client-ids\u0000takeover'
const takeoverChannelOf = (brokerId: string): string => `${TAKEOVER_CHANNEL}\u0000${brokerId}`
const TAKEN_CHANNEL = 'warden:client-ids\u0000taken'
/** the old connection is told and closed in a round trip or two: past this, the new one goes ahead anyway */
const TAKEOVER_WAIT_MS = 1000
const ALIVE = 'warden:broker-alive:'
/** the alive key's value: '2', hears takeovers on its own channel; '1', an earlier version's, on the shared one */
const ALIVE_VALUE = '2'
const EARLIER_ALIVE_VALUE = '1'
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

/**
 * `settled`: resolves once the session store's writes made so far are in Redis (redis-queues.ts). A binding
 * changes, and a takeover is answered, only after them: the next connection of the client id, on whichever
 * worker, then reads the session as this one left it (acknowledgements not awaited by the broker included:
 * one written after that worker read the queue sent the acknowledged messages again).
 */
export async function createRedisBindings (
  target: RedisTarget,
  brokerId: string,
  settled: () => Promise<void> = async () => {},
  { takeoverWaitMs = TAKEOVER_WAIT_MS }: { takeoverWaitMs?: number } = {}
): Promise<BindingStore> {
  const conn = connectRedis(target, { maxRetriesPerRequest: 3 })
  const sub = connectRedis(target, { enableReadyCheck: false })
  // failures surface as failed commands (a refused CONNECT); without listeners ioredis prints each one
  conn.on('error', () => {})
  sub.on('error', () => {})
  const kickListeners: Array<(clientId: string) => void> = []
  const takeOverListeners: Array<(clientId: string, endsSession: boolean) => Promise<void>> = []
  let takeovers = 0
  const waiting = new Map<number, () => void>()
  /** the store's writes so far, waited for at most takeoverWaitMs (Redis away: the release goes ahead, and fails) */
  const afterWrites = async (): Promise<void> => {
    let bound: NodeJS.Timeout | undefined
    await Promise.race([settled().catch(() => {}), new Promise<void>((resolve) => { bound = setTimeout(resolve, takeoverWaitMs) })])
    clearTimeout(bound)
  }
  const ownTakeovers = takeoverChannelOf(brokerId)
  sub.on('message', (channel: string, text: string) => {
    if (channel === KICK_CHANNEL) { for (const l of kickListeners) l(text); return }
    let m: { id?: unknown, to?: unknown, from?: unknown, n?: unknown, ends?: unknown }
    try { m = JSON.parse(text) as typeof m } catch { return }
    if (channel === TAKEN_CHANNEL) {
      if (m.to === brokerId && typeof m.n === 'number') waiting.get(m.n)?.()
      return
    }
    if ((channel !== ownTakeovers && channel !== TAKEOVER_CHANNEL) || m.to !== brokerId || typeof m.id !== 'string') return
    const clientId = m.id
    void Promise.allSettled(takeOverListeners.map((l) => l(clientId, m.ends === true)))
      .then(afterWrites)
      .then(() => conn.publish(TAKEN_CHANNEL, JSON.stringify({ n: m.n, to: m.from })))
      .catch(() => {})
  })
  await sub.subscribe(KICK_CHANNEL, TAKEOVER_CHANNEL, ownTakeovers, TAKEN_CHANNEL)
  const aliveKey = ALIVE + brokerId
  const beat = (): void => { conn.set(aliveKey, ALIVE_VALUE, 'PX', ALIVE_TTL_MS).catch(() => {}) }
  await conn.set(aliveKey, ALIVE_VALUE, 'PX', ALIVE_TTL_MS)
  const timer = setInterval(beat, ALIVE_REFRESH_MS)
  timer.unref()

  const parse = (text: string | null | undefined): Binding | undefined => text == null ? undefined : JSON.parse(text) as Binding
  const swap: BindingStore['swap'] = async (clientId, expected, next) => {
    // a connection's binding is released (or removed) after what it wrote: a claim needs nothing of the kind
    if (next === undefined || !next.connected) await afterWrites()
    return await conn.eval(SWAP, 1, KEY, clientId, expected?.conn ?? '', next === undefined ? '' : JSON.stringify(next)) === 1
  }

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
    async takeOver (clientId, holder, endsSession = false) {
      const n = ++takeovers
      let timer: NodeJS.Timeout | undefined
      const answered = new Promise<void>((resolve) => {
        waiting.set(n, resolve)
        timer = setTimeout(resolve, takeoverWaitMs)
      })
      try {
        const asked = JSON.stringify({ id: clientId, to: holder, from: brokerId, n, ...(endsSession ? { ends: true } : {}) })
        let heard = await conn.publish(takeoverChannelOf(holder), asked)
        if (heard === 0 && await conn.get(ALIVE + holder) === EARLIER_ALIVE_VALUE) heard = await conn.publish(TAKEOVER_CHANNEL, asked)
        // nobody heard it: the holder died (its alive key lapses only ALIVE_TTL_MS later) or has lost Redis, and
        // in neither case could it answer; the wait for an answer would only delay this CONNECT
        if (heard === 0) return
        await answered
      } finally {
        clearTimeout(timer)
        waiting.delete(n)
      }
    },
    onTakeOver (listener) { takeOverListeners.push(listener) },
    async close () {
      clearInterval(timer)
      await conn.del(aliveKey).catch(() => {})
      sub.disconnect()
      await conn.quit().catch(() => conn.disconnect())
    }
  }
}
