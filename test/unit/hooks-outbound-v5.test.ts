// The outbound stage of authorizeForward (hooks/outbound-v5.ts) as a function of (client, packet): Message
// Expiry on live delivery, the size a PUBLISH takes on the wire, every matching Subscription Identifier.
import type { AedesPublishPacket, Client } from 'aedes'
import mqttPacket from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { createOutboundStage, publishWireSize } from '../../apps/broker/src/hooks/outbound-v5.js'

// plain objects in the shape the stage reads
const v5 = (extra: Record<string, unknown> = {}): Client => ({ id: 'c5', version: 5, clean: true, subscriptions: {}, ...extra }) as unknown as Client
const v3 = { id: 'c3', version: 4, clean: true, subscriptions: {} } as unknown as Client
const packet = (extra: Record<string, unknown> = {}): AedesPublishPacket =>
  ({
    cmd: 'publish', topic: 'a/b', payload: Buffer.from('hello'), qos: 1, retain: false, dup: false, brokerId: 'b1', brokerCounter: 1, ...extra
  }) as AedesPublishPacket
const pass = (_c: Client, p: AedesPublishPacket): AedesPublishPacket => p

describe('outbound stage', () => {
  const tooLarge: unknown[] = []
  const stage = createOutboundStage({ tooLarge: (_c, _p, bytes, max) => { tooLarge.push([bytes, max]) } })
  const forward = (c: Client, p: AedesPublishPacket): AedesPublishPacket | null => stage.authorizeForward?.(c, p, pass) ?? null

  it('a live message is sent with the time it has left, rounded up; an expired one is not sent, to 3.1.1 clients either', () => {
    const now = Date.now()
    expect(forward(v5(), packet({ messageExpiry: now + 2500, properties: { messageExpiryInterval: 10, contentType: 't' } }))?.properties)
      .toEqual({ messageExpiryInterval: 3, contentType: 't' })
    expect(forward(v5(), packet({ messageExpiry: now - 1, properties: { messageExpiryInterval: 1 } }))).toBeNull()
    expect(forward(v3, packet({ messageExpiry: now - 1 }))).toBeNull()
    const forV3 = packet({ messageExpiry: now + 5000 })
    expect(forward(v3, forV3)).toBe(forV3)
    expect(stage.stats.expired).toBe(2)
  })

  it('the shared packet is never changed in place (other subscribers get it too)', () => {
    const shared = packet({ messageExpiry: Date.now() + 60000, properties: { messageExpiryInterval: 60 } })
    forward(v5(), shared)
    expect(shared.properties).toEqual({ messageExpiryInterval: 60 })
  })

  it.each([
    [{}], [{ properties: { userProperties: { a: '1', b: ['x', 'y'] }, contentType: 'application/json', correlationData: Buffer.from('c') } }],
    [{ qos: 0 }], [{ payload: Buffer.alloc(200) }], [{ payload: Buffer.alloc(20000), topic: 't'.repeat(300) }],
    [{ properties: { subscriptionIdentifier: [1, 300, 70000] } }]
  ])('publishWireSize is the size mqtt-packet writes (%o)', (extra) => {
    const p = packet({ messageId: 7, ...extra })
    expect(publishWireSize(p)).toBe(mqttPacket.generate(p as mqttPacket.IPublishPacket, { protocolVersion: 5 }).length)
  })

  it("too large for the client's Maximum Packet Size: not sent, reported; a 3.1.1 client has none", () => {
    const p = packet({ payload: Buffer.alloc(100) })
    expect(forward(v5({ maximumPacketSize: 100 }), p)).toBeNull()
    expect(forward(v5({ maximumPacketSize: 200 }), p)).toBe(p)
    expect(forward(v3, p)).toBe(p)
    expect(tooLarge).toEqual([[publishWireSize(p), 100]])
  })
})
