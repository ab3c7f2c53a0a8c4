// Proof that a consumer-group link message comes from a broker process of this cluster. Its topics
// ($WARDEN/share/...) travel on the same Redis bus as client messages; a message on them is believed only
// when it carries an HMAC made with the cluster's secret (kept in Redis, which clients never reach) and
// did not come through aedes's publish (which every client message does: aedes gives it a brokerId).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Redis } from 'ioredis'

const SECRET_KEY = 'warden:share:secret'

export interface SealedPacket { topic: string, payload: Buffer | string, brokerId?: unknown }

export interface LinkSeal {
  /** the payload to emit on `topic` for `body` */
  seal (topic: string, body: unknown): Buffer
  /** the body of a sealed message, or why it is not one */
  open (packet: SealedPacket): { ok: true, body: unknown } | { ok: false, why: string }
  /** binary form (batched hand-overs): the MAC's 32 bytes, then `bytes` */
  sealBytes (topic: string, bytes: Uint8Array): Buffer
  /** the bytes of a message sealed by sealBytes, or why it is not one */
  openBytes (packet: SealedPacket): { ok: true, bytes: Buffer } | { ok: false, why: string }
}

const MAC_BYTES = 32

/** The first process to start makes the secret; the others read it. */
export async function createLinkSeal (redis: Redis): Promise<LinkSeal> {
  await redis.set(SECRET_KEY, randomBytes(32).toString('base64'), 'NX')
  const stored = await redis.get(SECRET_KEY)
  if (stored === null) throw new Error(`${SECRET_KEY} vanished from Redis`)
  const secret = Buffer.from(stored, 'base64')
  const mac = (topic: string, text: string | Uint8Array): Buffer => createHmac('sha256', secret).update(topic).update('\u0000').update(text).digest()

  return {
    seal (topic, body) {
      const text = JSON.stringify(body)
      return Buffer.from(JSON.stringify({ b: text, s: mac(topic, text).toString('base64') }))
    },
    open (packet) {
      if (packet.brokerId !== undefined) return { ok: false, why: 'published through the broker (a client message), not by a link' }
      let outer: unknown
      try {
        outer = JSON.parse(typeof packet.payload === 'string' ? packet.payload : packet.payload.toString())
      } catch {
        return { ok: false, why: 'not JSON' }
      }
      const { b, s } = (outer ?? {}) as { b?: unknown, s?: unknown }
      if (typeof b !== 'string' || typeof s !== 'string') return { ok: false, why: 'not sealed' }
      const given = Buffer.from(s, 'base64')
      const want = mac(packet.topic, b)
      if (given.length !== want.length || !timingSafeEqual(given, want)) return { ok: false, why: 'bad seal' }
      return { ok: true, body: JSON.parse(b) as unknown }
    },
    sealBytes (topic, bytes) {
      return Buffer.concat([mac(topic, bytes), bytes])
    },
    openBytes (packet) {
      if (packet.brokerId !== undefined) return { ok: false, why: 'published through the broker (a client message), not by a link' }
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload
      if (payload.length < MAC_BYTES) return { ok: false, why: 'not sealed' }
      const bytes = payload.subarray(MAC_BYTES)
      if (!timingSafeEqual(payload.subarray(0, MAC_BYTES), mac(packet.topic, bytes))) return { ok: false, why: 'bad seal' }
      return { ok: true, bytes }
    }
  }
}
