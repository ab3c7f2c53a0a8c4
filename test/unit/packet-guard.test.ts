// The packet guard in front of aedes's parser: sizes and MQTT strings, whatever way the bytes are split.
import mqttPacket, { type Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { PacketGuard } from '../../apps/broker/src/limits/packet-guard.js'

const gen = (p: Record<string, unknown>): Buffer => mqttPacket.generate(p as unknown as Packet)
const str = (b: Buffer | string): Buffer => {
  const bytes = Buffer.from(b)
  const len = Buffer.alloc(2)
  len.writeUInt16BE(bytes.length)
  return Buffer.concat([len, bytes])
}
const packet = (header: number, body: Buffer): Buffer => {
  const len: number[] = []
  let n = body.length
  do { let d = n % 128; n = Math.floor(n / 128); if (n > 0) d |= 0x80; len.push(d) } while (n > 0)
  return Buffer.concat([Buffer.from([header, ...len]), body])
}
const publishRaw = (topic: Buffer, payload = Buffer.from('x')): Buffer => packet(0x30, Buffer.concat([str(topic), payload]))
const subscribeRaw = (...filters: Buffer[]): Buffer =>
  packet(0x82, Buffer.concat([Buffer.from([0, 1]), ...filters.map((f) => Buffer.concat([str(f), Buffer.from([1])]))]))
const connectRaw = (clientId: Buffer, opts: { username?: Buffer, willTopic?: Buffer, level?: number } = {}): Buffer => {
  const flags = 0x02 | (opts.username !== undefined ? 0x80 : 0) | (opts.willTopic !== undefined ? 0x04 : 0)
  return packet(0x10, Buffer.concat([
    str('MQTT'), Buffer.from([opts.level ?? 4, flags, 0, 30]), str(clientId),
    ...(opts.willTopic !== undefined ? [str(opts.willTopic), str('bye')] : []),
    ...(opts.username !== undefined ? [str(opts.username)] : [])
  ]))
}

const BAD_UTF8: Array<[string, Buffer]> = [
  ['a lone continuation byte', Buffer.from([0x61, 0x80])],
  ['a truncated sequence', Buffer.from([0x61, 0xc3])],
  ['an overlong encoding of "/"', Buffer.from([0xc0, 0xaf])],
  ['an encoded surrogate (U+D800)', Buffer.from([0xed, 0xa0, 0x80])],
  ['a code point above U+10FFFF', Buffer.from([0xf4, 0x90, 0x80, 0x80])],
  ['0xFF', Buffer.from([0x61, 0xff])]
]

/** feeds the bytes whole, then byte by byte, then in 3-byte pieces: the answer must not depend on the split */
function check (bytes: Buffer, max = 1 << 20): Array<string | null> {
  const answers: Array<string | null> = []
  for (const size of [bytes.length, 1, 3]) {
    const g = new PacketGuard(max)
    let v = null
    for (let i = 0; i < bytes.length && v === null; i += size) v = g.feed(bytes.subarray(i, i + size))
    answers.push(v === null ? null : `${v.reason}: ${v.detail}`)
  }
  return answers
}
const same = (a: Array<string | null>): string | null => {
  expect(new Set(a).size, `answers differ by split: ${JSON.stringify(a)}`).toBe(1)
  return a[0] as string | null
}

describe('lets well-formed traffic through', () => {
  it.each([
    ['CONNECT with will and credentials', gen({
      cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 10, clientId: 'dévice-1', username: 'josé',
      password: Buffer.from([0xff, 0]), will: { topic: 'ü/bye', payload: Buffer.from([0xff]), qos: 1, retain: false }
    })],
    ['PUBLISH with a binary payload',
      gen({ cmd: 'publish', topic: 'sensors/温度', payload: Buffer.from([0xff, 0xfe, 0]), qos: 1, messageId: 7, retain: false, dup: false })],
    ['PUBLISH with an empty payload', gen({ cmd: 'publish', topic: 'a', payload: Buffer.alloc(0), qos: 0, retain: false, dup: false })],
    ['SUBSCRIBE with several filters',
      gen({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: 'a/+/c', qos: 1 }, { topic: '#', qos: 0 }, { topic: 'ü/#', qos: 2 }] })],
    ['UNSUBSCRIBE', gen({ cmd: 'unsubscribe', messageId: 4, unsubscriptions: ['a/b', 'ü'] })],
    ['PINGREQ and DISCONNECT', Buffer.concat([gen({ cmd: 'pingreq' }), gen({ cmd: 'disconnect' })])],
    ['a truncated PUBLISH (the parser reports it)', publishRaw(Buffer.from('abc')).subarray(0, 4)],
    // found by the fuzz test: a filter list whose last string runs past the body once looped forever
    ['an UNSUBSCRIBE whose filter runs past its body', packet(0xa2, Buffer.from([0, 1, 0, 9, 0x61]))],
    ['a SUBSCRIBE whose filter runs past its body', packet(0x82, Buffer.from([0, 1, 0, 1, 0x61, 1, 0, 9, 0x61]))],
    ['a CONNECT of an unknown level (refused later, CONNACK 1)', connectRaw(Buffer.from([0xff]), { level: 6 })]
  ])('%s', (_what, bytes) => {
    expect(same(check(bytes))).toBeNull()
  })

  it('never copies or inspects a payload, however large', () => {
    const big = gen({ cmd: 'publish', topic: 't', payload: Buffer.alloc(200_000, 0xff), qos: 0, retain: false, dup: false })
    expect(same(check(Buffer.concat([big, big]), 300_000))).toBeNull()
  })
})

describe('refuses ill-formed UTF-8 and U+0000 in MQTT strings (MQTT-1.5.3-1, -2)', () => {
  it.each(BAD_UTF8)('a PUBLISH topic with %s', (_what, bad) => {
    expect(same(check(publishRaw(bad)))).toBe('malformed-packet: topic is not well-formed UTF-8')
  })

  it.each(BAD_UTF8)('a SUBSCRIBE filter (the second) with %s', (_what, bad) => {
    expect(same(check(subscribeRaw(Buffer.from('ok/#'), bad)))).toBe('malformed-packet: topic filter is not well-formed UTF-8')
  })

  it.each([
    ['client id', connectRaw(Buffer.from([0xc3]))],
    ['will topic', connectRaw(Buffer.from('c'), { willTopic: Buffer.from([0xed, 0xa0, 0x80]) })],
    ['username', connectRaw(Buffer.from('c'), { username: Buffer.from([0x80]) })]
  ])('a CONNECT %s', (what, bytes) => {
    expect(same(check(bytes))).toBe(`malformed-packet: ${what} is not well-formed UTF-8`)
  })

  it.each([
    ['topic', publishRaw(Buffer.from('a\u0000b'))],
    ['topic filter', packet(0xa2, Buffer.concat([Buffer.from([0, 1]), str('x\u0000')]))],
    ['client id', connectRaw(Buffer.from('\u0000warden-qos2:x'))]
  ])('U+0000 in a %s', (what, bytes) => {
    expect(same(check(bytes))).toBe(`malformed-packet: ${what} contains U+0000`)
  })

  it('finds the bad packet after good ones in the same chunk', () => {
    const good = gen({ cmd: 'publish', topic: 'a', payload: Buffer.from('x'), qos: 0, retain: false, dup: false })
    expect(same(check(Buffer.concat([good, good, publishRaw(Buffer.from([0xff]))])))).toMatch(/^malformed-packet/)
  })
})

describe('MQTT 5: properties sit between the strings checked', () => {
  const gen5 = (p: Record<string, unknown>): Buffer => mqttPacket.generate(p as unknown as Packet, { protocolVersion: 5 })
  const connect5 = (clientId: string, extra: Record<string, unknown> = {}): Buffer => gen5({
    cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 10, clientId, username: 'josé', password: Buffer.from('p'),
    properties: { sessionExpiryInterval: 300, receiveMaximum: 20, userProperties: { a: 'bé' } },
    will: {
      topic: 'ü/bye', payload: Buffer.from([0xff]), qos: 1, retain: false,
      properties: { willDelayInterval: 5, contentType: 'text/plain', userProperties: { k: 'v' } }
    },
    ...extra
  })
  const subscribe5 = (topic: string | Buffer): Buffer => {
    // the filter is written raw: mqtt-packet would not encode a bad one
    const good = gen5({
      cmd: 'subscribe', messageId: 3, properties: { subscriptionIdentifier: 300, userProperties: { a: 'b' } },
      subscriptions: [{ topic: 'ok/#', qos: 1, nl: true }, { topic: 'PLACEHOLDER', qos: 0 }]
    })
    const placeholder = Buffer.concat([str('PLACEHOLDER'), Buffer.from([0])])
    const at = good.indexOf(placeholder)
    const body = Buffer.concat([good.subarray(2, at), str(topic), Buffer.from([0])])
    return packet(0x82, body)
  }

  it('lets a v5 CONNECT (with properties and will properties), SUBSCRIBE and UNSUBSCRIBE through', () => {
    const bytes = Buffer.concat([
      connect5('dévice-1'),
      subscribe5('a/+/ü'),
      gen5({ cmd: 'unsubscribe', messageId: 4, properties: { userProperties: { a: 'b' } }, unsubscriptions: ['a/b', 'ü'] }),
      gen5({
        cmd: 'publish', topic: 'a/b', payload: Buffer.from('x'), qos: 1, messageId: 5, retain: false, dup: false,
        properties: { userProperties: { a: 'b' }, contentType: 'x/y' }
      })
    ])
    expect(same(check(bytes))).toBeNull()
  })

  it('finds a bad client id and a bad filter behind v5 properties', () => {
    expect(same(check(connect5('a\u0000b')))).toBe('malformed-packet: client id contains U+0000')
    expect(same(check(Buffer.concat([connect5('c'), subscribe5(Buffer.from([0xc3]))])))).toBe('malformed-packet: topic filter is not well-formed UTF-8')
  })
})

describe('PUBLISH flags (MQTT-3.3.1-2)', () => {
  it('refuses DUP with QoS 0, and lets DUP with QoS 1 or 2 through', () => {
    const body = (b: Buffer): Buffer => b.subarray(1)
    const raw = publishRaw(Buffer.from('a'))
    expect(same(check(Buffer.concat([Buffer.from([0x38]), body(raw)])))).toBe('malformed-packet: QoS 0 PUBLISH with DUP set (MQTT-3.3.1-2)')
    for (const qos of [1, 2] as const) {
      expect(same(check(gen({ cmd: 'publish', topic: 'a', payload: Buffer.from('x'), qos, messageId: 1, retain: false, dup: true })))).toBeNull()
    }
  })
})

describe('sizes', () => {
  it('refuses a packet announced larger than the limit from its first bytes, before its body arrives', () => {
    const g = new PacketGuard(1024)
    // PUBLISH announcing 268,435,455 bytes: 1 + 4 bytes of header are enough
    expect(g.feed(Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f]))).toEqual({ reason: 'packet-too-large', detail: 'packet of 268435460 bytes, limit 1024' })
  })

  it('counts the fixed header: a packet of exactly the limit passes, one byte more does not', () => {
    const at = publishRaw(Buffer.from('t'), Buffer.alloc(100 - 2 - 3))
    expect(at.length).toBe(100)
    expect(same(check(at, 100))).toBeNull()
    expect(same(check(publishRaw(Buffer.from('t'), Buffer.alloc(96)), 100))).toBe('packet-too-large: packet of 101 bytes, limit 100')
  })

  it('refuses a remaining length longer than four bytes', () => {
    expect(same(check(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80, 0x01])))).toBe('malformed-packet: remaining length longer than 4 bytes')
  })
})
