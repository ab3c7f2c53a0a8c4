// Every Redis connection of a broker process comes from here: the store, the bus, client-id bindings, the
// registry, consumer groups, the idle index and the cluster view. One place decides how Redis is reached —
// a URL, or Redis Sentinel (`redis.sentinels` + `redis.name`: the master is asked of the sentinels, and
// after a failover every connection follows the new master) — and keeps connection errors off stderr: they
// surface as failed or waiting commands, and the store-health monitor reports an outage once (redis-health.ts).
import { Redis, type RedisOptions } from 'ioredis'

export interface SentinelAddress { readonly host: string, readonly port: number }

export interface RedisTarget {
  /** `redis://[user:password@]host:port[/db]` (`rediss://`: TLS); with sentinels, its host and port are not
   * used, its credentials, database and TLS are the master's */
  readonly url?: string | undefined
  readonly sentinels?: readonly SentinelAddress[] | undefined
  /** the master's name the sentinels know it by (`sentinel monitor <name> …`) */
  readonly name?: string | undefined
  /** a password of the sentinels themselves (`requirepass` in sentinel.conf), when they have one */
  readonly sentinelPassword?: string | undefined
  /** the connections made for one broker, so that its shutdown can drop them when Redis is away */
  readonly opened?: OpenedConnections | undefined
}

export interface OpenedConnections {
  readonly conns: Set<Redis>
  aborted: boolean
}

/** ioredis's own default: wait a little longer after each failed attempt, at most 2 s */
const defaultRetry = (times: number): number => Math.min(times * 50, 2000)

export function connectRedis (target: RedisTarget, options: RedisOptions = {}): Redis {
  const opened = target.opened
  // an aborted broker stops reconnecting: ioredis then fails what waits in its queue (see abortRedis)
  const retry = options.retryStrategy ?? defaultRetry
  const opts: RedisOptions = opened === undefined ? options : { ...options, retryStrategy: (times) => opened.aborted ? null : retry(times) }
  const conn = target.sentinels === undefined || target.sentinels.length === 0
    ? new Redis(target.url ?? 'redis://', opts) // load-config.ts requires a url when there are no sentinels
    : new Redis({
      ...credentialsOf(target.url ?? 'redis://'),
      sentinels: target.sentinels.map((s) => ({ host: s.host, port: s.port })),
      name: target.name,
      ...(target.sentinelPassword !== undefined ? { sentinelPassword: target.sentinelPassword } : {}),
      ...opts
    })
  conn.on('error', () => {})
  if (opened !== undefined) {
    opened.conns.add(conn)
    conn.once('end', () => opened.conns.delete(conn))
  }
  return conn
}

/**
 * Gives up on Redis for `target`'s connections: what still waits on it fails ("Connection is closed", or
 * "reached the max retries"). A connected one is closed at once; one that is reconnecting — Redis away —
 * fails its queue at its next attempt (within 2 s): ioredis's disconnect() does nothing to a connection
 * between two attempts, and its queued commands would wait for ever.
 */
export function abortRedis (target: RedisTarget): void {
  const opened = target.opened
  if (opened === undefined) return
  opened.aborted = true
  for (const conn of opened.conns) if (conn.status !== 'reconnecting') conn.disconnect()
}

/** What of the URL still applies behind sentinels: user, password, database, TLS. */
function credentialsOf (url: string): RedisOptions {
  const u = new URL(url)
  const out: RedisOptions = {}
  if (u.username !== '') out.username = decodeURIComponent(u.username)
  if (u.password !== '') out.password = decodeURIComponent(u.password)
  const db = Number(u.pathname.slice(1))
  if (u.pathname.length > 1 && Number.isInteger(db)) out.db = db
  if (u.protocol === 'rediss:') out.tls = {}
  return out
}

/** where a target points, for messages: the URL without its password, or the sentinels and the master's name */
export function describeTarget (target: RedisTarget): string {
  if (target.sentinels !== undefined && target.sentinels.length > 0) {
    return `master "${target.name ?? ''}" of sentinels ${target.sentinels.map((s) => `${s.host}:${s.port}`).join(', ')}`
  }
  try {
    const u = new URL(target.url ?? '')
    if (u.password !== '') u.password = '***'
    return u.toString()
  } catch {
    return '(unparseable url)'
  }
}
