// Congestion announcements between the workers of a cluster, on a Redis channel whose name holds U+0000,
// which no MQTT topic may contain (MQTT-1.5.3-2): no client can publish on it. Each announcement expires
// unless renewed, so a worker that dies holds no one up for longer than its TTL.
import { connectRedis, type RedisTarget } from '../store/redis-connect.js'
import type { Reach } from './holds.js'
import { MAX_REACH } from './reach.js'

const CHANNEL = 'warden:flow\u0000congestion'
/** a worker's announcement lasts no longer than this, whatever it says */
const MAX_TTL_MS = 10_000

interface Announcement { from: string, key: string, reach?: Reach, ttlMs?: number }

export interface FlowPeer {
  set (key: string, reach: Reach, ttlMs: number): void
  clear (key: string): void
}

export interface FlowLink {
  announce (key: string, reach: Reach, ttlMs: number): void
  clear (key: string): void
  close (): void
}

export async function createFlowLink (target: RedisTarget, brokerId: string, peer: FlowPeer): Promise<FlowLink> {
  const pub = connectRedis(target, { maxRetriesPerRequest: 3 })
  const sub = connectRedis(target, { enableReadyCheck: false })
  sub.on('messageBuffer', (channel: Buffer, message: Buffer) => {
    if (channel.toString() !== CHANNEL) return
    const a = parse(message)
    if (a === undefined || a.from === brokerId) return
    if (a.reach === undefined) peer.clear(a.key)
    else peer.set(a.key, a.reach, Math.min(a.ttlMs ?? 0, MAX_TTL_MS))
  })
  await sub.subscribe(CHANNEL)
  const send = (a: Announcement): void => { pub.publish(CHANNEL, JSON.stringify(a)).catch(() => {}) }
  return {
    announce: (key, reach, ttlMs) => send({ from: brokerId, key, reach, ttlMs }),
    clear: (key) => send({ from: brokerId, key }),
    close () { sub.disconnect(); pub.disconnect() }
  }
}

const isString = (x: unknown): x is string => typeof x === 'string' && x.length > 0

function parse (message: Buffer): Announcement | undefined {
  let a: unknown
  try { a = JSON.parse(message.toString()) } catch { return undefined }
  if (typeof a !== 'object' || a === null) return undefined
  const { from, key, reach, ttlMs } = a as Record<string, unknown>
  if (!isString(from) || !isString(key)) return undefined
  if (reach === undefined) return { from, key }
  if (!Array.isArray(reach) || reach.length > MAX_REACH || typeof ttlMs !== 'number' || !(ttlMs > 0)) return undefined
  const ok = reach.every((r: unknown) => Array.isArray(r) && (r.length === 1 || r.length === 2) && r.every(isString))
  return ok ? { from, key, reach: reach as Reach, ttlMs } : undefined
}
