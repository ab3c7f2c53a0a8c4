// The Redis queue store's batch argument (store/redis-batch.ts): a msgpack array of strings, each item under
// the smallest string header for its length, byte for byte what a msgpack encoder writes for the same
// (ASCII) strings, and a Buffer's bytes as they are.
import { Encoder } from '@msgpack/msgpack'
import { describe, expect, it } from 'vitest'
import { packItems } from '../../apps/broker/src/store/redis-batch.js'

const arrayOf = (items: string[]): Buffer => {
  const body = Buffer.from(new Encoder().encode(items))
  // the encoder's array header is the smallest one; packItems always writes array 32
  const skip = items.length < 16 ? 1 : 3
  const head = Buffer.alloc(5)
  head[0] = 0xdd
  head.writeUInt32BE(items.length, 1)
  return Buffer.concat([head, body.subarray(skip)])
}

describe('packItems', () => {
  it.each([0, 1, 31, 32, 255, 256, 65535, 65536])('a string of %i bytes gets the header a msgpack encoder gives it', (n) => {
    const s = 'k'.repeat(n)
    expect(packItems([s, 'E'])).toEqual(arrayOf([s, 'E']))
  })

  it('writes a Buffer\'s bytes unchanged (any bytes, not only UTF-8) and a string in UTF-8', () => {
    const bytes = Buffer.from([0, 0xff, 0xc4, 0x80, 0xa1])
    const packed = packItems([bytes, 'é'])
    expect([...packed.subarray(5)]).toEqual([0xa5, 0, 0xff, 0xc4, 0x80, 0xa1, 0xa2, 0xc3, 0xa9])
  })
})
