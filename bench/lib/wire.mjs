// Just enough MQTT 3.1.1 on the wire for the load generator: frames encoded once and patched in place,
// and a frame splitter that hands out offsets instead of parsed objects. A full client (MQTT.js) costs
// about as much per message as the broker being measured; this costs a small fraction of it.
import mqtt from 'mqtt-packet'

export const PUBLISH = 3
export const PUBACK = 4
export const PUBREC = 5
export const PUBREL = 6
export const PUBCOMP = 7
export const CONNACK = 2
export const SUBACK = 9
export const PINGRESP = 13

/** Payload layout written by publishers: u32 publisher index, u32 sequence, u64 send time (hrtime ns). */
export const PAYLOAD_HEADER = 16

export function connectFrame ({ clientId, username, password, clean = true, keepalive = 300 }) {
  const packet = { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean, clientId, keepalive }
  if (username !== undefined) packet.username = username
  if (password !== undefined) packet.password = Buffer.from(password)
  return mqtt.generate(packet)
}

export function subscribeFrame (messageId, subscriptions) {
  return mqtt.generate({ cmd: 'subscribe', messageId, subscriptions: subscriptions.map(([topic, qos]) => ({ topic, qos })) })
}

/** A PUBLISH frame to copy per message: the message id and payload header are patched at the offsets. */
export function publishTemplate (topic, qos, payloadSize) {
  if (payloadSize < PAYLOAD_HEADER) throw new Error(`payload must be at least ${PAYLOAD_HEADER} bytes`)
  const payload = Buffer.alloc(payloadSize, 0x2e)
  const frame = mqtt.generate({ cmd: 'publish', topic, qos, retain: false, dup: false, payload, ...(qos > 0 ? { messageId: 1 } : {}) })
  const payloadOffset = frame.length - payloadSize
  return { frame, payloadOffset, idOffset: qos > 0 ? payloadOffset - 2 : -1 }
}

/** A 4-byte acknowledgement frame (PUBACK, PUBREC, PUBREL, PUBCOMP) into `buf` at `o`. */
export function writeAck (buf, o, type, id) {
  buf[o] = type === PUBREL ? 0x62 : type << 4
  buf[o + 1] = 2
  buf[o + 2] = id >> 8
  buf[o + 3] = id & 0xff
  return o + 4
}

/**
 * Splits a byte stream into frames; calls onFrame(type, flags, buf, bodyStart, bodyEnd) for each. The
 * buffer is only valid during the call.
 */
export function createFrameReader (onFrame) {
  let rest = null
  return function push (chunk) {
    const buf = rest === null ? chunk : Buffer.concat([rest, chunk])
    rest = null
    const len = buf.length
    let off = 0
    while (off + 2 <= len) {
      let i = off + 1
      let mult = 1
      let remaining = 0
      let b = 0
      let complete = false
      while (i < len && i < off + 5) {
        b = buf[i++]
        remaining += (b & 127) * mult
        mult *= 128
        if ((b & 128) === 0) { complete = true; break }
      }
      if (!complete || i + remaining > len) break
      const h = buf[off]
      onFrame(h >> 4, h & 15, buf, i, i + remaining)
      off = i + remaining
    }
    if (off < len) rest = buf.subarray(off)
  }
}
