// The wire format of a batch of consumer-group copies handed over to one broker process (cluster-link.ts):
// msgpack, one array per copy, payloads as binary. One batch travels in one sealed Redis PUBLISH, where each
// copy used to take a PUBLISH, a JSON body with a base64 payload and an HMAC of its own.
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

export function encodeBatch (batch: readonly Handover[]): Uint8Array {
  const items = batch.map(({ copy: c, clientId, exclude, redelivery }): Item => {
    const item: Item = [c.key, c.topic, c.payload, c.qos, c.brokerId, c.brokerCounter, clientId, [...exclude], redelivery]
    if (c.properties !== undefined || c.messageExpiry !== undefined) item.push(encodeProperties(c.properties) ?? null, c.messageExpiry ?? null)
    return item
  })
  return encoder.encode(items)
}

/** the hand-overs in a batch; throws on anything else (a batch comes sealed by a broker process) */
export function decodeBatch (bytes: Uint8Array): Handover[] {
  const items = decoder.decode(bytes)
  if (!Array.isArray(items)) throw new Error('a consumer-group batch is not an array')
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
