// The wire format of a batch of consumer-group copies handed over to one broker process (cluster-link.ts):
// msgpack, one array per copy, payloads as binary. One batch travels in one sealed Redis PUBLISH, where each
// copy used to take a PUBLISH, a JSON body with a base64 payload and an HMAC of its own. A batch its receiver
// answers (cluster-link.ts: the sender's publishers wait for that answer) carries a header: its id, and when it
// was sent; a batch without one is the form a Warden from before answers reads.
import { Decoder, Encoder } from '@msgpack/msgpack'
import { decodeProperties, encodeProperties } from './copy-properties.js'
import type { Copy, QoS } from './types.js'

/** what cluster-link.ts forwards: a copy for one member, and the members already tried */
export interface Handover {
  readonly copy: Copy
  readonly clientId: string
  readonly exclude: readonly string[]
  readonly redelivery: boolean
}

/** [key, topic, payload, qos, brokerId, counter, member, exclude, redelivery, properties | null, expiry | null]; the
 * last two only for an MQTT 5 message that has either */
type Item = [string, string, Uint8Array, QoS, string, number, string, string[], boolean, (Record<string, unknown> | null)?, (number | null)?]

const encoder = new Encoder()
const decoder = new Decoder()

/** a batch its receiver answers: `id` names it (and its claim in Redis), `from`: the sender's broker id, `at`:
 * when it was sent (epoch ms) */
export interface BatchHeader { readonly id: string, readonly from: string, readonly at: number }

const encodeItems = (batch: readonly Handover[]): Item[] => batch.map(({ copy: c, clientId, exclude, redelivery }): Item => {
  const item: Item = [c.key, c.topic, c.payload, c.qos, c.brokerId, c.brokerCounter, clientId, [...exclude], redelivery]
  if (c.properties !== undefined || c.messageExpiry !== undefined) item.push(encodeProperties(c.properties) ?? null, c.messageExpiry ?? null)
  return item
})

/** with `header`: a batch to be answered (a map of the header and the items), else the items alone */
export function encodeBatch (batch: readonly Handover[], header?: BatchHeader): Uint8Array {
  const items = encodeItems(batch)
  return encoder.encode(header === undefined ? items : { h: [header.id, header.from, header.at], i: items })
}

/** the hand-overs in a batch, and its header if it has one; throws on anything else (a batch comes sealed by a
 * broker process) */
export function decodeAnyBatch (bytes: Uint8Array): { header?: BatchHeader, items: Handover[] } {
  const v = decoder.decode(bytes)
  if (Array.isArray(v)) return { items: decodeItems(v) }
  const { h, i } = (v ?? {}) as { h?: unknown, i?: unknown }
  if (!Array.isArray(h) || typeof h[0] !== 'string' || typeof h[1] !== 'string' || typeof h[2] !== 'number' || !Array.isArray(i)) {
    throw new Error('malformed consumer-group batch')
  }
  return { header: { id: h[0], from: h[1], at: h[2] }, items: decodeItems(i) }
}

/** the hand-overs of a batch without a header */
export function decodeBatch (bytes: Uint8Array): Handover[] {
  const items = decoder.decode(bytes)
  if (!Array.isArray(items)) throw new Error('a consumer-group batch is not an array')
  return decodeItems(items)
}

function decodeItems (items: unknown[]): Handover[] {
  return items.map((i: unknown) => {
    if (!Array.isArray(i) || i.length < 9 || !(i[2] instanceof Uint8Array)) throw new Error('malformed consumer-group batch item')
    const [key, topic, payload, qos, brokerId, counter, clientId, exclude, redelivery, props, expiry] = i as Item
    const p = payload as Uint8Array
    const copy: Copy = {
      key,
      topic,
      // a view of the batch's own buffer (the bus copied it out of the Redis reply: bus-codec.ts)
      payload: Buffer.from(p.buffer, p.byteOffset, p.byteLength),
      qos,
      brokerId,
      brokerCounter: counter,
      ...(props !== undefined && props !== null ? { properties: decodeProperties(props) } : {}),
      ...(typeof expiry === 'number' ? { messageExpiry: expiry } : {})
    }
    return { copy, clientId, exclude, redelivery }
  })
}
