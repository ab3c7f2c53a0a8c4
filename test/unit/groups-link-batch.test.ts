// A batch of consumer-group hand-overs (groups/link-batch.ts): what a member gets from a copy that crossed
// processes is what it would have got on the process it was published on. (Its seal: security-internal-topics.)
import { describe, expect, it } from 'vitest'
import { decodeBatch, encodeBatch, type Handover } from '../../apps/broker/src/groups/link-batch.js'

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

  it.each([
    ['not an array', Buffer.from([0xc0])],
    ['an item that is not a hand-over', Buffer.from([0x91, 0x01])]
  ])('is refused when it is %s', (_w, bytes) => {
    expect(() => decodeBatch(bytes)).toThrow()
  })
})
