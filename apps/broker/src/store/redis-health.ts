// Is Redis there? One connection of its own PINGs it every second with a short timeout, so that a Redis that
// is gone (killed, restarting, a failover under way) or hung is noticed within about a second whatever the
// other connections are doing. While it is down the broker is not ready (`/readyz` 503), refuses new
// connections with "server unavailable" (hooks/store-health.ts), and holds what connected clients send: the
// store's own connections wait for Redis instead of failing (persistence.ts). The log says it once per outage.
import type { Logger } from '@warden/common'
import { connectRedis, describeTarget, type RedisTarget } from './redis-connect.js'

export const PING_INTERVAL_MS = 1000
const PING_TIMEOUT_MS = 1000

export interface RedisHealth {
  /** whether the last PING was answered in time */
  up (): boolean
  /** since when Redis is unreachable (ms epoch), or undefined */
  readonly downSince: number | undefined
  close (): void
}

export function watchRedis (target: RedisTarget, logger: Logger): RedisHealth {
  // no offline queue: a PING while disconnected fails at once instead of waiting for the reconnect
  const conn = connectRedis(target, { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: PING_TIMEOUT_MS })
  let downSince: number | undefined
  let lastError = ''
  let inFlight = false
  const ping = (): void => {
    if (inFlight) return
    inFlight = true
    conn.ping().then(() => {
      if (downSince !== undefined) {
        logger.warn({ redis: describeTarget(target), downForMs: Date.now() - downSince }, 'Redis is reachable again: ready, accepting connections')
      }
      downSince = undefined
    }, (err: unknown) => {
      lastError = (err as Error).message
      if (downSince === undefined) {
        downSince = Date.now()
        logger.error({ redis: describeTarget(target), err: lastError },
          'Redis is unreachable: not ready, new connections refused, what clients send is held until it is back')
      }
    }).finally(() => { inFlight = false })
  }
  const timer = setInterval(ping, PING_INTERVAL_MS)
  timer.unref()
  return {
    up: () => downSince === undefined,
    get downSince () { return downSince },
    close () {
      clearInterval(timer)
      conn.disconnect()
    }
  }
}
