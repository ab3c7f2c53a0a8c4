// The last messages accepted under each registration, for its dashboard page: kept only when the config
// asks (dashboard.recentMessages > 0), a bounded preview of each payload, and shown only to viewers who may
// read the message's topic (see commands.ts getTopic).
import type { Aedes } from 'aedes'
import { isInternalTopic } from '../policy/internal-topics.js'
import type { OwnershipPolicy } from '../policy/ownership.js'

/** bytes of a payload kept for its preview */
export const PREVIEW_BYTES = 512

export interface RecentMessage {
  readonly ts: string
  readonly topic: string
  readonly qos: number
  readonly retain: boolean
  readonly bytes: number
  /** the first PREVIEW_BYTES as UTF-8 text, or base64 when they are not text */
  readonly preview: string
  readonly encoding: 'utf8' | 'base64'
  readonly truncated: boolean
}

export interface RecentMessages {
  /** per registration filter, oldest first; undefined when the feature is off */
  of (filter: string): readonly RecentMessage[] | undefined
  readonly enabled: boolean
  /** how many each registration keeps */
  readonly perTopic: number
  /** drops the messages of registrations that are gone */
  keepOnly (filters: ReadonlySet<string>): void
}

function previewOf (payload: Buffer): Pick<RecentMessage, 'preview' | 'encoding' | 'truncated'> {
  const head = payload.subarray(0, PREVIEW_BYTES)
  const text = head.toString('utf8')
  // a cut in the middle of a character is still text; anything else with U+FFFD or control bytes is binary
  const clean = text.replace(/\uFFFD+$/, '')
  // eslint-disable-next-line no-control-regex -- control characters are what tell binary from text
  const binary = clean.includes('\uFFFD') || /[\u0000-\u0008\u000E-\u001F]/.test(clean)
  return { preview: binary ? head.toString('base64') : clean, encoding: binary ? 'base64' : 'utf8', truncated: payload.length > PREVIEW_BYTES }
}

export function createRecentMessages (broker: Aedes, ownership: OwnershipPolicy, perTopic: number): RecentMessages {
  const rings = new Map<string, RecentMessage[]>()
  if (perTopic > 0) {
    broker.on('publish', (packet, client) => {
      // the clients' own messages: not the broker's ($SYS), nor another process's (cluster bus)
      if (client == null || isInternalTopic(packet.topic)) return
      const filter = ownership.registrationOf(packet.topic)
      if (filter === undefined) return
      let ring = rings.get(filter)
      if (ring === undefined) rings.set(filter, ring = [])
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload)
      ring.push({ ts: new Date().toISOString(), topic: packet.topic, qos: packet.qos, retain: packet.retain, bytes: payload.length, ...previewOf(payload) })
      if (ring.length > perTopic) ring.shift()
    })
  }
  return {
    enabled: perTopic > 0,
    perTopic,
    keepOnly (filters) { for (const f of rings.keys()) if (!filters.has(f)) rings.delete(f) },
    of: (filter) => perTopic > 0 ? rings.get(filter) ?? [] : undefined
  }
}
