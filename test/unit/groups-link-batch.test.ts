// A batch of consumer-group hand-overs (groups/link-batch.ts): what a member gets from a copy that crossed
// processes is what it would have got on the process it was published on. (Its seal: security-internal-topics.)
import { describe, expect, it } from 'vitest'
import { decodeAnyBatch, decodeBatch, encodeBatch, type Handover } from '../../apps/broker/src/groups/link-batch.js'

const v3: Handover = {
  copy: {
    key: 'g/sensors/#', topic: 'sensors/s-1/t', payload: Buffer.from([0, 1, 2, 255]), qos: 1, brokerId: 'a\u0000share:g%2Fsensors%2F%23', brokerCounter: 41
  },
  clientId: 'member-1',
  exclude: [],
  redelivery: false
}
const v5: Handover = {
  copy: {
    key: 'g/x/+', topic: 'x/é', payload: Buffer.alloc(0), qos: 2, brokerId: 'b', brokerCounter: 2 ** 40,
    properties: { contentType: 'text/plain', correlationData: Buffer.from([9, 8, 7]), userProperties: { a: 'b', c: ['d', 'e'] }, payloadFormatIndicator: true },
    messageExpiry: 1_800_000_000_000
  },
  clientId: 'member-2',
  exclude: ['member-0', 'member-1'],
  redelivery: true
}

describe('a batch of hand-overs', () => {
  it('decodes to the copies encoded, binary payloads and MQTT 5 properties included, in order', () => {
    const out = decodeBatch(encodeBatch([v3, v5, { ...v5, copy: { ...v5.copy, properties: undefined } }]))
    expect(out).toEqual([v3, v5, { ...v5, copy: { ...v5.copy, properties: undefined } }])
    expect(Buffer.isBuffer(out[0]?.copy.payload)).toBe(true)
    expect(Buffer.isBuffer(out[1]?.copy.properties?.correlationData)).toBe(true)
    // a 3.1.1 copy carries no properties and no expiry, not empty ones
    expect(Object.keys(out[0]?.copy ?? {})).not.toContain('properties')
    expect(Object.keys(out[0]?.copy ?? {})).not.toContain('messageExpiry')
  })

  it('carries the header of a batch its receiver answers; one without a header reads as before', () => {
    const header = { id: 'n0nce.1f', from: 'warden-a', at: 1_800_000_000_123 }
    expect(decodeAnyBatch(encodeBatch([v3, v5], header))).toEqual({ header, items: [v3, v5] })
    expect(decodeAnyBatch(encodeBatch([v3]))).toEqual({ items: [v3] })
    // a receiver from before answers is never sent one: it would refuse it, not misread it
    expect(() => decodeBatch(encodeBatch([v3], header))).toThrow()
  })

  it.each([
    ['a header without a sender', Buffer.from([0x82, 0xa1, 0x68, 0x92, 0xa1, 0x78, 0x01, 0xa1, 0x69, 0x90])],
    ['a map without items', Buffer.from([0x81, 0xa1, 0x68, 0x93, 0xa1, 0x78, 0xa1, 0x61, 0x01])]
  ])('is refused, with a header, when it is %s', (_w, bytes) => {
    expect(() => decodeAnyBatch(bytes)).toThrow()
  })

  it.each([
    ['not an array', Buffer.from([0xc0])],
    ['an item that is not a hand-over', Buffer.from([0x91, 0x01])]
  ])('is refused when it is %s', (_w, bytes) => {
    expect(() => decodeBatch(bytes)).toThrow()
  })
})
