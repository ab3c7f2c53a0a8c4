// Persistent sessions expire, in every backend and across restarts and broker processes: an MQTT 5 session
// after its own Session Expiry Interval (clamped to sessions.expiryMs), an MQTT 3.1.1 one after
// sessions.expiryMs (3.1.1 has no session expiry of its own), so abandoned devices do not grow the store
// forever. The deadline of each session whose client went away is kept in the store (a file beside LevelDB,
// a sorted set in Redis), not in a timer of the process that had the client (aedes 2's own, lost on restart
// and blind to the other processes of a cluster: see aedes/session-timers.ts).
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { Aedes, Client } from 'aedes'
import type { Redis } from 'ioredis'
import { writeFileAtomic, type Logger } from '@warden/common'
import { clientsOf, sessionExpiryOf } from '../aedes/accessors.js'
import type { AedesStore } from '../aedes/store.js'
import { isTakenOver } from './takeover.js'

/** When each persistent session whose client went away expires; connected clients are not in it. */
export interface ExpiryIndex {
  /** `at`: epoch ms of the deadline */
  markIdle (clientId: string, at: number): Promise<void>
  markActive (clientIds: string[]): Promise<void>
  /** the sessions whose deadline is at or before `now` */
  dueBy (now: number): Promise<string[]>
  close (): Promise<void>
}

export interface SessionExpiry {
  /** expires what is due at `now`; returns the client ids whose sessions were removed */
  sweep (now?: number): Promise<string[]>
  readonly expired: number
  close (): Promise<void>
}

export interface SessionExpiryOptions {
  broker: Aedes
  persistence: AedesStore
  index: ExpiryIndex
  /** sessions.expiryMs: the lifetime of a 3.1.1 session after its client went away, and the cap of MQTT 5's (0 = never, no cap) */
  expiryMs: number
  sweepIntervalMs: number
  logger: Logger
  /** a session was removed (its client id binding goes with it) */
  onExpired?: (clientId: string) => Promise<void>
  /** cluster: whether a connection on another broker process holds the client id now */
  connectedElsewhere?: (clientId: string) => Promise<boolean>
}

/** MQTT 5 "never expires" */
const NEVER = 0xFFFFFFFF

/**
 * The deadline of a session whose client just went away: its Session Expiry Interval (MQTT 5, as the CONNECT
 * or the DISCONNECT set it, already clamped by aedes to sessions.expiryMs), or sessions.expiryMs (3.1.1);
 * undefined: it never expires.
 */
export function deadlineOf (client: Client, now: number, expiryMs: number): number | undefined {
  const interval = sessionExpiryOf(client)
  if (interval === undefined || interval >= NEVER) return expiryMs > 0 ? now + expiryMs : undefined
  return now + interval * 1000
}

export function createSessionExpiry (opts: SessionExpiryOptions): SessionExpiry {
  const { broker, persistence, index, expiryMs, sweepIntervalMs, logger, onExpired, connectedElsewhere } = opts
  const log = logger.child({ component: 'sessions' })
  const connected = (): Readonly<Record<string, Client | undefined>> => clientsOf(broker)
  const isPersistent = (c: Client): boolean => !c.clean
  let expired = 0
  let sweeping: Promise<string[]> | undefined
  /** sweeps due before the next periodic one: a short MQTT 5 Session Expiry is kept to the second */
  const soon = new Set<NodeJS.Timeout>()
  let closed = false

  const onError = (err: unknown): void => { log.error({ err }, 'session index update failed') }
  // a sweep that fails (Redis away past the store's retries, an index it cannot read) is tried again at the next
  // one: rejected in a timer, it was an unhandled rejection, which ends a Node process
  const sweepFailed = (err: unknown): void => { log.error({ err }, 'session sweep failed: tried again at the next one') }
  const onClient = (c: Client): void => { if (isPersistent(c)) index.markActive([c.id]).catch(onError) }
  const onGone = (c: Client): void => {
    // a client taken over by a newer connection with the same id (here or on another process) is not idle
    if (!isPersistent(c) || connected()[c.id] !== undefined || isTakenOver(c)) return
    const now = Date.now()
    const at = deadlineOf(c, now, expiryMs)
    if (at === undefined) return
    index.markIdle(c.id, at).catch(onError)
    if (at - now < sweepIntervalMs && !closed) {
      const t = setTimeout(() => { soon.delete(t); sweep().catch(sweepFailed) }, at - now + 1)
      t.unref()
      soon.add(t)
    }
  }
  broker.on('client', onClient)
  broker.on('clientDisconnect', onGone)

  async function doSweep (now: number): Promise<string[]> {
    // re-assert this process's live sessions first: in a cluster, an idle mark can race a takeover
    const live = Object.values(connected()).filter((c): c is Client => c !== undefined && isPersistent(c)).map((c) => c.id)
    if (live.length > 0) await index.markActive(live)
    const due = (await index.dueBy(now)).filter((id) => connected()[id] === undefined)
    const done: string[] = []
    for (const id of due) {
      try {
        // resumed on another process (its idle mark came after that process's connect): not idle
        if (await connectedElsewhere?.(id) === true) { await index.markActive([id]); continue }
        await purgeSession(persistence, id)
        await onExpired?.(id)
        await index.markActive([id]) // gone from the index: nothing left to expire
        done.push(id)
      } catch (err) {
        log.error({ err, clientId: id }, 'cannot expire session')
      }
    }
    expired += done.length
    if (done.length > 0) log.info({ expired: done.length, expiryMs }, 'expired persistent sessions')
    return done
  }

  // MQTT 5 sessions have deadlines of their own even when sessions.expiryMs is 0
  const timer = setInterval(() => { sweep().catch(sweepFailed) }, sweepIntervalMs)
  timer.unref()

  function sweep (now = Date.now()): Promise<string[]> {
    sweeping ??= doSweep(now).finally(() => { sweeping = undefined })
    return sweeping
  }
  return {
    get expired () { return expired },
    sweep,
    async close () {
      closed = true
      clearInterval(timer)
      for (const t of soon) clearTimeout(t)
      soon.clear()
      broker.removeListener('client', onClient)
      broker.removeListener('clientDisconnect', onGone)
      await sweeping?.catch(() => {})
      await index.close()
    }
  }
}

/** Removes a stored session: its subscriptions, queued messages and incoming QoS 2 state. */
export async function purgeSession (store: AedesStore, clientId: string): Promise<void> {
  const client = { id: clientId }
  const subs = await store.subscriptionsByClient(client)
  if (subs.length > 0) await store.removeSubscriptions(client, subs.map((s) => s.topic))
  // queued messages can only be removed by packet id: give each one in turn a placeholder id, then clear it
  for await (const packet of store.outgoingStream(client)) {
    const withId = { ...packet, messageId: 65535 }
    await store.outgoingUpdate(client, withId)
    await store.outgoingClearMessageId(client, withId)
  }
  if (typeof store.cleanIncoming === 'function') await store.cleanIncoming(client)
}

/**
 * Single-process index kept in a JSON file under dataDir (memory only for `persistence: memory`). `legacy`:
 * the file of the builds before MQTT 5 session expiry, which kept when each session went idle: read once,
 * each time plus `expiryMs` as its deadline, then removed.
 */
export async function createFileIndex (file: string | undefined, legacy?: { file: string, expiryMs: number }): Promise<ExpiryIndex> {
  const due = new Map<string, number>()
  const read = async (f: string): Promise<Record<string, number>> => {
    try {
      return JSON.parse(await readFile(f, 'utf8')) as Record<string, number>
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      return {}
    }
  }
  if (file !== undefined) for (const [id, at] of Object.entries(await read(file))) due.set(id, at)
  let writing = Promise.resolve()
  const save = (): Promise<void> => {
    if (file === undefined) return Promise.resolve()
    const data = JSON.stringify(Object.fromEntries(due))
    writing = writing.then(async () => {
      // written on every change: atomic, not fsynced (a power loss loses the last changes, never the file)
      await writeFileAtomic(file, data)
    })
    return writing
  }
  if (legacy !== undefined && file !== undefined) {
    const old = Object.entries(await read(legacy.file))
    for (const [id, at] of old) if (legacy.expiryMs > 0 && !due.has(id)) due.set(id, at + legacy.expiryMs)
    if (old.length > 0) await save()
    await rm(legacy.file, { force: true })
  }
  return {
    async markIdle (id, at) { due.set(id, at); await save() },
    async markActive (ids) {
      let changed = false
      for (const id of ids) changed = due.delete(id) || changed
      if (changed) await save()
    },
    async dueBy (now) { return [...due].filter(([, at]) => at <= now).map(([id]) => id) },
    async close () { await writing }
  }
}

const REDIS_KEY = 'warden:sessions:expiry'
/** before MQTT 5 session expiry: when each session went idle */
const LEGACY_REDIS_KEY = 'warden:sessions:idle'

// moves the legacy set's entries (idle since) into the deadlines (idle since + expiryMs), once, whichever
// process starts first; an entry already in the deadlines wins
const MIGRATE = `
local old = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #old, 2 do
  if tonumber(ARGV[1]) > 0 then redis.call('ZADD', KEYS[2], 'NX', tonumber(old[i + 1]) + tonumber(ARGV[1]), old[i]) end
end
redis.call('DEL', KEYS[1])
return #old / 2`

/** Cluster index: one sorted set in Redis, scored by each session's deadline. */
export async function createRedisIndex (redis: Redis, legacyExpiryMs: number): Promise<ExpiryIndex> {
  try {
    await redis.eval(MIGRATE, 2, LEGACY_REDIS_KEY, REDIS_KEY, legacyExpiryMs)
  } catch (err) {
    // a start that fails here leaves no connection behind
    redis.disconnect()
    throw err
  }
  return {
    async markIdle (id, at) { await redis.zadd(REDIS_KEY, at, id) },
    async markActive (ids) { if (ids.length > 0) await redis.zrem(REDIS_KEY, ...ids) },
    async dueBy (now) { return await redis.zrangebyscore(REDIS_KEY, '-inf', now) },
    async close () { redis.disconnect() }
  }
}

export function indexFile (dataDir: string): string {
  return join(dataDir, 'sessions-expiry.json')
}

/** the idle index of the builds before MQTT 5 session expiry */
export function legacyIndexFile (dataDir: string): string {
  return join(dataDir, 'sessions-idle.json')
}
