// Just enough MQTT 3.1.1 on the wire for the load generator (and MQTT 5, `version` 5: no properties sent,
// those received skipped): frames encoded once and patched in place, and a frame splitter that hands out
// offsets instead of parsed objects. A full client (MQTT.js) costs about as much per message as the broker
// being measured; this costs a small fraction of it.
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

export function connectFrame ({ clientId, username, password, clean = true, keepalive = 300 }, version = 4) {
  const packet = { cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clean, clientId, keepalive }
  if (username !== undefined) packet.username = username
  if (password !== undefined) packet.password = Buffer.from(password)
  // a persistent MQTT 5 session needs a Session Expiry Interval (0, the default, ends it at disconnect)
  if (version === 5 && !clean) packet.properties = { sessionExpiryInterval: 3600 }
  return mqtt.generate(packet, { protocolVersion: version })
}

export function subscribeFrame (messageId, subscriptions, version = 4) {
  return mqtt.generate({ cmd: 'subscribe', messageId, subscriptions: subscriptions.map(([topic, qos]) => ({ topic, qos })) }, { protocolVersion: version })
}

/** A PUBLISH frame to copy per message: the message id and payload header are patched at the offsets. */
export function publishTemplate (topic, qos, payloadSize, version = 4) {
  if (payloadSize < PAYLOAD_HEADER) throw new Error(`payload must be at least ${PAYLOAD_HEADER} bytes`)
  const payload = Buffer.alloc(payloadSize, 0x2e)
  const packet = { cmd: 'publish', topic, qos, retain: false, dup: false, payload, ...(qos > 0 ? { messageId: 1 } : {}) }
  const frame = mqtt.generate(packet, { protocolVersion: version })
  const payloadOffset = frame.length - payloadSize
  // MQTT 5: an empty property list (one byte, 0) sits between the message id and the payload
  return { frame, payloadOffset, idOffset: qos > 0 ? payloadOffset - 2 - (version === 5 ? 1 : 0) : -1 }
}

/** MQTT 5: the offset just past the property list (a variable byte integer length, then the properties) at `o` */
export function skipProperties (buf, o) {
  let len = 0
  let mult = 1
  let b
  do {
    b = buf[o++]
    len += (b & 127) * mult
    mult *= 128
  } while ((b & 128) !== 0)
  return o + len
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
