// The cluster bus's codec: the msgpack that mqemitter-redis (msgpack-lite) writes and reads, both ways.
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { decodeEnvelope, encodeEnvelope } from '../../apps/broker/src/store/bus-codec.js'

// the msgpack-lite mqemitter-redis itself uses: processes still on it must read what Warden writes
const require = createRequire(createRequire(import.meta.url).resolve('mqemitter-redis'))
const msgpack = require('msgpack-lite') as { encode (v: unknown): Buffer, decode (b: Buffer): unknown }

const packets: Array<[string, Record<string, unknown> & { topic: string }]> = [
  ['an aedes QoS 1 packet', {
    cmd: 'publish', brokerId: 'warden-a-1', brokerCounter: 1795392692369528, topic: 'bench/pub-6/data/0', payload: Buffer.alloc(64, 6),
    qos: 1, retain: false, dup: false, messageId: undefined, clientId: 'p6'
  }],
  ['a string payload ($SYS subscription sync)',
    { topic: '$SYS/sub/add', payload: JSON.stringify({ clientId: 'c', subs: [{ topic: 'a/#', qos: 1 }] }), qos: 0, retain: false }],
  ['an empty topic and payload', { topic: '', payload: Buffer.alloc(0) }],
  ['unicode strings of every length class', { topic: 'ü/ñ/中文/🦊'.repeat(4), a: 'x'.repeat(31), b: 'é'.repeat(20), c: 'y'.repeat(300), d: 'z'.repeat(70000) }],
  ['payloads of every length class', { topic: 't', p1: Buffer.alloc(255, 1), p2: Buffer.alloc(256, 2), p3: Buffer.alloc(70000, 3) }],
  ['numbers of every width', {
    topic: 't', a: 0, b: 127, c: 128, d: 65535, e: 65536, f: 2 ** 32 - 1, g: 2 ** 32, h: -1, i: -32, j: -33, k: -129, l: -32769,
    m: -(2 ** 31), n: -(2 ** 31) - 1, o: 1.5, p: Number.MAX_SAFE_INTEGER
  }],
  ['null and booleans', { topic: 't', a: null, b: true, c: false }],
  ['more than 15 fields', Object.fromEntries([['topic', 't'], ...Array.from({ length: 20 }, (_, i) => [`k${i}`, i])]) as { topic: string }]
]

describe('encodeEnvelope / decodeEnvelope', () => {
  it.each(packets)('%s: msgpack-lite reads what it writes', (_, msg) => {
    expect(msgpack.decode(encodeEnvelope('id-1', msg))).toEqual(msgpack.decode(msgpack.encode({ id: 'id-1', msg })))
  })

  it.each(packets)('%s: it reads what msgpack-lite writes, as msgpack-lite does', (_, msg) => {
    const theirs = msgpack.encode({ id: 'id-2', msg })
    expect(decodeEnvelope(theirs)).toEqual(msgpack.decode(theirs))
    expect(decodeEnvelope(encodeEnvelope('id-2', msg))).toEqual(msgpack.decode(theirs))
  })

  it('copies payloads out of the buffer read from the socket', () => {
    const buf = encodeEnvelope('i', { topic: 't', payload: Buffer.from('abc') })
    const env = decodeEnvelope(buf)
    buf.fill(0)
    expect(env?.msg.payload).toEqual(Buffer.from('abc'))
  })

  it.each([
    ['a nested object', { topic: 't', properties: { a: 1 } }],
    ['an array', { topic: 't', subs: [1, 'x'] }]
  ])('writes %s as msgpack-lite reads it', (_, msg) => {
    expect(msgpack.decode(encodeEnvelope('i', msg))).toEqual(msgpack.decode(msgpack.encode({ id: 'i', msg })))
  })

  it('writes a Uint8Array that is no Buffer as the binary msgpack-lite writes for a Buffer', () => {
    const env = decodeEnvelope(encodeEnvelope('i', { topic: 't', payload: new Uint8Array([1, 2]) }))
    expect(env?.msg.payload).toEqual(Buffer.from([1, 2]))
    expect(Buffer.isBuffer(env?.msg.payload)).toBe(true)
  })

  it.each([
    ['a registry announcement', Buffer.from('2')],
    ['a sentinel hello', Buffer.from('127.0.0.1,26379,abc,0,mymaster,127.0.0.1,6379,0')],
    ['a map without id and msg', msgpack.encode({ a: 1 })],
    ['a message without a topic', msgpack.encode({ id: 'i', msg: { payload: 'x' } })],
    ['trailing bytes', Buffer.concat([encodeEnvelope('i', { topic: 't' }), Buffer.from([0])])]
  ])('does not read %s', (_, buf) => {
    expect(decodeEnvelope(buf)).toBeUndefined()
  })

  it('does not read a truncated message, whatever its length', () => {
    const buf = encodeEnvelope('abc', packets[0]?.[1] ?? { topic: '' })
    for (let n = 0; n < buf.length; n++) expect(decodeEnvelope(buf.subarray(0, n))).toBeUndefined()
  })
})
