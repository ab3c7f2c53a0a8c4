// How the durable stores write a packet: msgpack, as aedes-persistence-level and aedes-persistence-redis write it
// with msgpack-lite, encoded with @msgpack/msgpack instead. msgpack-lite allocates and zero-fills a 2 KiB buffer
// for every value (a QoS 2 message on the level store encoded four to six: a fifth of that store's CPU with
// the garbage collector's share, profiled); @msgpack/msgpack reuses one. msgpack-lite reads what this writes
// (the bytes differ only in integers above 2^32, which this writes as uint64 and msgpack-lite as float64: the
// same number once read), so the stores and every earlier version read it unchanged.
import { Encoder } from '@msgpack/msgpack'

const encoder = new Encoder()

/** a packet as stored: its own fields, none of the functions aedes hangs on what it sends (writeCallback) */
export function encodePacket (packet: object): Buffer {
  const plain: Record<string, unknown> = {}
  for (const k in packet) {
    const v = (packet as Record<string, unknown>)[k]
    if (typeof v !== 'function') plain[k] = v
  }
  const bytes = encoder.encode(plain)
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}
