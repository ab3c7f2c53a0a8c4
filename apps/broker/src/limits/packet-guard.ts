// Frames the bytes a client sends, ahead of aedes's parser: refuses a packet whose announced length is over
// the limit before any of it is buffered, and strings that MQTT 3.1.1 forbids (ill-formed UTF-8 or U+0000
// in a topic, filter, client id or username: MQTT-1.5.3-1/-2), which mqtt-packet would decode silently,
// and a QoS 0 PUBLISH with DUP set (MQTT-3.3.1-2), which aedes would accept.
import { isUtf8 } from 'node:buffer'

export type GuardReason = 'packet-too-large' | 'malformed-packet'

export interface GuardViolation {
  readonly reason: GuardReason
  readonly detail: string
}

const CONNECT = 1
const PUBLISH = 3
const SUBSCRIBE = 8
const UNSUBSCRIBE = 10

/**
 * One per connection, for as long as it is open: each field is 8 bytes of every idle connection, so the
 * framing keeps no field it can compute, and no array until a captured body comes in more than one piece.
 */
export class PacketGuard {
  private header = -1
  private len = 0
  private lenBytes = 0
  private remaining = -1
  private want = 0
  /** the captured body so far: none, one piece (the usual case: a packet read in one chunk), or several */
  private parts: Buffer | Buffer[] | null = null
  private captured = 0
  /** the CONNECT's protocol level: MQTT 5 packets carry properties between the fields checked */
  private level = 4
  /** a violation was found: the connection is being closed, nothing more of it is read */
  refused = false

  constructor (private readonly maxPacketBytes: number) {}

  /** Inspects the next bytes of the stream: a violation ends the connection, null lets them through. */
  feed (buf: Buffer): GuardViolation | null {
    let i = 0
    while (i < buf.length) {
      if (this.header < 0) {
        this.header = buf[i++] as number
        this.len = 0
        this.lenBytes = 0
        continue
      }
      if (this.remaining < 0) {
        const b = buf[i++] as number
        // a shift, not 128 ** n: a float would make these fields heap numbers in every guard (4 bytes at most: 2^28)
        this.len += (b & 0x7f) << (7 * this.lenBytes)
        this.lenBytes++
        if ((b & 0x80) !== 0) {
          if (this.lenBytes === 4) return { reason: 'malformed-packet', detail: 'remaining length longer than 4 bytes' }
          continue
        }
        const total = 1 + this.lenBytes + this.len
        if (total > this.maxPacketBytes) {
          return { reason: 'packet-too-large', detail: `packet of ${total} bytes, limit ${this.maxPacketBytes}` }
        }
        this.remaining = this.len
        const type = this.header >> 4
        // DUP (0x08) with QoS 0 (bits 0x06 clear): MQTT-3.3.1-2 asks the receiver to close the connection
        if (type === PUBLISH && (this.header & 0x0e) === 0x08) return { reason: 'malformed-packet', detail: 'QoS 0 PUBLISH with DUP set (MQTT-3.3.1-2)' }
        this.want = type === PUBLISH ? Math.min(2, this.len) : (type === CONNECT || type === SUBSCRIBE || type === UNSUBSCRIBE) ? this.len : 0
        this.captured = 0
        this.parts = null
        if (this.remaining === 0) this.endPacket()
        continue
      }
      // the body: capture what is inspected, skip the rest (payloads are never copied)
      const n = this.captured < this.want
        ? Math.min(this.want - this.captured, this.remaining, buf.length - i)
        : Math.min(this.remaining, buf.length - i)
      if (this.captured < this.want) {
        const piece = buf.subarray(i, i + n)
        if (this.parts === null) this.parts = piece
        else if (Array.isArray(this.parts)) this.parts.push(piece)
        else this.parts = [this.parts, piece]
        this.captured += n
        if (this.captured === this.want) {
          const v = this.inspect()
          if (v !== null) return v
        }
      }
      i += n
      this.remaining -= n
      if (this.remaining === 0) this.endPacket()
    }
    return null
  }

  private endPacket (): void {
    this.header = -1
    this.remaining = -1
    this.parts = null
  }

  private inspect (): GuardViolation | null {
    const parts = this.parts ?? Buffer.alloc(0)
    const body = Array.isArray(parts) ? Buffer.concat(parts) : parts
    const type = this.header >> 4
    if (type === PUBLISH && this.want === 2 && body.length === 2) {
      // the topic length is known now: capture the topic itself
      const topicEnd = Math.min(this.len, 2 + body.readUInt16BE(0))
      if (topicEnd > 2) {
        this.want = topicEnd
        return null
      }
    }
    if (type === CONNECT) this.level = connectLevel(body) ?? this.level
    const bad = checkStrings(type, body, this.level)
    return bad === null ? null : { reason: 'malformed-packet', detail: bad }
  }
}

/** the protocol level a CONNECT body names, or null when it is too short */
export function connectLevel (body: Buffer): number | null {
  const r = new Reader(body)
  return r.string() === null ? null : r.byte()
}

/** Returns what is wrong with the strings of a packet body, or null (including when it is too short:
 * mqtt-packet reports truncated packets itself). `level` 5: MQTT 5 properties are skipped where they sit. */
export function checkStrings (type: number, body: Buffer, level = 4): string | null {
  const r = new Reader(body)
  const v5 = level === 5
  switch (type) {
    case PUBLISH:
      return r.checkString('topic')
    case SUBSCRIBE:
    case UNSUBSCRIBE: {
      if (!r.skip(2) || (v5 && !r.skipProperties())) return null
      while (r.more()) {
        const filter = r.string()
        if (filter === null) return null // truncated: every iteration must consume bytes or stop
        const bad = validate(filter, 'topic filter')
        if (bad !== null) return bad
        if (type === SUBSCRIBE && !r.skip(1)) return null
      }
      return null
    }
    case CONNECT: {
      const name = r.string()
      if (name === null) return null
      const level = r.byte()
      const flags = r.byte()
      if (level === null || flags === null || level > 5 || !r.skip(2)) return null // an unknown level is refused later
      if (level === 5 && !r.skipProperties()) return null
      const clientId = r.checkString('client id')
      if (clientId !== null) return clientId
      if ((flags & 0x04) !== 0) {
        if (level === 5 && !r.skipProperties()) return null
        const will = r.checkString('will topic')
        if (will !== null) return will
        if (r.string() === null) return null
      }
      if ((flags & 0x80) !== 0) return r.checkString('username')
      return null
    }
    default:
      return null
  }
}

class Reader {
  private pos = 0
  constructor (private readonly buf: Buffer) {}
  more (): boolean { return this.pos < this.buf.length }
  skip (n: number): boolean {
    if (this.pos + n > this.buf.length) return false
    this.pos += n
    return true
  }

  /** skips an MQTT 5 property block (a variable byte integer length, then that many bytes); false when truncated */
  skipProperties (): boolean {
    let n = 0
    let mul = 1
    for (let i = 0; i < 4; i++) {
      const b = this.byte()
      if (b === null) return false
      n += (b & 0x7f) * mul
      if ((b & 0x80) === 0) return this.skip(n)
      mul *= 128
    }
    return false
  }

  byte (): number | null {
    return this.pos < this.buf.length ? this.buf[this.pos++] as number : null
  }

  /** the bytes of a length-prefixed string, or null when the body ends first */
  string (): Buffer | null {
    if (this.pos + 2 > this.buf.length) return null
    const n = this.buf.readUInt16BE(this.pos)
    if (this.pos + 2 + n > this.buf.length) return null
    const s = this.buf.subarray(this.pos + 2, this.pos + 2 + n)
    this.pos += 2 + n
    return s
  }

  /** what is wrong with the next string; null when it is fine or the body ends first */
  checkString (what: string): string | null {
    const s = this.string()
    return s === null ? null : validate(s, what)
  }
}

function validate (s: Buffer, what: string): string | null {
  if (!isUtf8(s)) return `${what} is not well-formed UTF-8`
  if (s.includes(0)) return `${what} contains U+0000`
  return null
}
