// Persistent sessions expire after a configurable idle time, in every backend, so abandoned devices do not
// grow the store forever (MQTT 3.1.1 has no session expiry of its own).
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Aedes, Client } from 'aedes'
import type { Redis } from 'ioredis'
import { writeFileAtomic, type Logger } from '@warden/common'
import { clientsOf } from '../aedes/accessors.js'
import type { AedesStore } from '../aedes/store.js'

/** When each persistent session's client went away; connected clients are not in it. */
export interface IdleIndex {
  markIdle (clientId: string, at: number): Promise<void>
  markActive (clientIds: string[]): Promise<void>
  idleBefore (cutoff: number): Promise<string[]>
  close (): Promise<void>
}

export interface SessionExpiry {
  /** expires what has been idle too long; returns the client ids whose sessions were removed */
  sweep (now?: number): Promise<string[]>
  readonly expired: number
  close (): Promise<void>
}

export interface SessionExpiryOptions {
  broker: Aedes
  persistence: AedesStore
  index: IdleIndex
  /** 0 = sessions never expire */
  expiryMs: number
  sweepIntervalMs: number
  logger: Logger
  /** a session was removed (its client id binding goes with it) */
  onExpired?: (clientId: string) => Promise<void>
}

export function createSessionExpiry ({ broker, persistence, index, expiryMs, sweepIntervalMs, logger, onExpired }: SessionExpiryOptions): SessionExpiry {
  const log = logger.child({ component: 'sessions' })
  const connected = (): Readonly<Record<string, Client | undefined>> => clientsOf(broker)
  const isPersistent = (c: Client): boolean => !c.clean
  let expired = 0
  let sweeping: Promise<string[]> | undefined

  const onError = (err: unknown): void => { log.error({ err }, 'session index update failed') }
  const onClient = (c: Client): void => { if (isPersistent(c)) index.markActive([c.id]).catch(onError) }
  const onGone = (c: Client): void => {
    // a client taken over by a newer connection with the same id is not idle
    if (isPersistent(c) && connected()[c.id] === undefined) index.markIdle(c.id, Date.now()).catch(onError)
  }
  broker.on('client', onClient)
  broker.on('clientDisconnect', onGone)

  async function doSweep (now: number): Promise<string[]> {
    // re-assert this process's live sessions first: in a cluster, an idle mark can race a takeover
    const live = Object.values(connected()).filter((c): c is Client => c !== undefined && isPersistent(c)).map((c) => c.id)
    if (live.length > 0) await index.markActive(live)
    const stale = (await index.idleBefore(now - expiryMs)).filter((id) => connected()[id] === undefined)
    const done: string[] = []
    for (const id of stale) {
      try {
        await purgeSession(persistence, id)
        await onExpired?.(id)
        await index.markActive([id]) // gone from the index: nothing left to expire
        done.push(id)
      } catch (err) {
        log.error({ err, clientId: id }, 'cannot expire session')
      }
    }
    expired += done.length
    if (done.length > 0) log.info({ expired: done.length, expiryMs }, 'expired idle persistent sessions')
    return done
  }

  const timer = expiryMs > 0 ? setInterval(() => { void sweep() }, sweepIntervalMs) : undefined
  timer?.unref()

  function sweep (now = Date.now()): Promise<string[]> {
    sweeping ??= doSweep(now).finally(() => { sweeping = undefined })
    return sweeping
  }

  return {
    get expired () { return expired },
    sweep,
    async close () {
      if (timer !== undefined) clearInterval(timer)
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

/** Single-process index kept in a JSON file under dataDir (memory only for `persistence: memory`). */
export async function createFileIdleIndex (file: string | undefined): Promise<IdleIndex> {
  const idle = new Map<string, number>()
  if (file !== undefined) {
    try {
      for (const [id, at] of Object.entries(JSON.parse(await readFile(file, 'utf8')) as Record<string, number>)) idle.set(id, at)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
  }
  let writing = Promise.resolve()
  const save = (): Promise<void> => {
    if (file === undefined) return Promise.resolve()
    const data = JSON.stringify(Object.fromEntries(idle))
    writing = writing.then(async () => {
      // written on every change: atomic, not fsynced (a power loss loses the last changes, never the file)
      await writeFileAtomic(file, data)
    })
    return writing
  }
  return {
    async markIdle (id, at) { idle.set(id, at); await save() },
    async markActive (ids) {
      let changed = false
      for (const id of ids) changed = idle.delete(id) || changed
      if (changed) await save()
    },
    async idleBefore (cutoff) { return [...idle].filter(([, at]) => at <= cutoff).map(([id]) => id) },
    async close () { await writing }
  }
}

/** Cluster index: one sorted set in Redis, scored by the time the session went idle. */
export function createRedisIdleIndex (redis: Redis, key = 'warden:sessions:idle'): IdleIndex {
  return {
    async markIdle (id, at) { await redis.zadd(key, at, id) },
    async markActive (ids) { if (ids.length > 0) await redis.zrem(key, ...ids) },
    async idleBefore (cutoff) { return await redis.zrangebyscore(key, '-inf', cutoff) },
    async close () { redis.disconnect() }
  }
}

export function idleIndexFile (dataDir: string): string {
  return join(dataDir, 'sessions-idle.json')
}
