// An MQTT 5 subscriber with a Receive Maximum gets no more unacknowledged QoS 1/2 messages at once than it
// asked for: the others wait in the broker (aedes/outbound-window.ts), already given their packet ids. One that
// leaves with messages still waiting there, never sent, is sent them on its return as a first delivery, DUP 0
// (MQTT-3.3.1-1: DUP 1 says the packet may have been sent before); only the one it was sent comes with DUP 1.
import { once } from 'node:events'
import type { Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { PASSWORD } from '../helpers/broker.js'
import { publish } from '../helpers/mqtt.js'
import { rawClient, type RawClient } from '../helpers/raw-mqtt.js'
import { useScope } from '../helpers/scope.js'

type Pub = Packet & { cmd: 'publish', payload: Buffer, qos: number, messageId: number, dup: boolean }

const scope = useScope()

async function until (c: RawClient, pred: (p: Packet) => boolean): Promise<Packet> {
  for (;;) {
    const found = c.packets.find(pred)
    if (found !== undefined) return found
    await Promise.race([once(c.socket, 'data'), c.closed().then(() => { throw new Error('closed') })])
  }
}
const publishOf = (payload: string) => (p: Packet): boolean => p.cmd === 'publish' && (p as Pub).payload.toString() === payload

async function session (port: number, receiveMaximum: number): Promise<RawClient> {
  const c = scope.track(await rawClient(port, { protocolVersion: 5 }))
  c.send({
    cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: false, keepalive: 30, clientId: 'held-reader',
    username: 'dashboard', password: Buffer.from(PASSWORD), properties: { sessionExpiryInterval: 300, receiveMaximum }
  } as Packet)
  const ack = await c.next('connack') as Packet & { reasonCode: number }
  if (ack.reasonCode !== 0) throw new Error(`CONNACK ${ack.reasonCode}`)
  return c
}

describe.each(['memory', 'level'] as const)('an MQTT 5 subscriber with Receive Maximum 1 on %s', (persistence) => {
  it('that leaves with messages held back unsent is sent them with DUP 0 when it resumes', async () => {
    const tb = await scope.start({ config: { persistence } })
    let r = await session(tb.port, 1)
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos: 1 }] } as Packet)
    await r.next('suback')
    const pub = await scope.client('sensor-1')
    for (const m of ['h1', 'h2', 'h3']) await publish(pub, 'sensors/sensor-1/held', m, { qos: 1 })
    const first = await until(r, publishOf('h1')) as Pub
    expect(first.dup).toBe(false)
    // h2 and h3 were given their packet ids (the store holds them so) and wait for h1's PUBACK, which never comes
    const store = (tb.broker.aedes as unknown as { persistence: unknown }).persistence as { outgoingStream (c: { id: string }): AsyncIterable<Pub> }
    for (;;) {
      const ids: number[] = []
      for await (const p of store.outgoingStream({ id: 'held-reader' })) if (p.messageId !== undefined) ids.push(p.messageId)
      if (ids.length === 3) break
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    expect(r.packets.filter((p) => p.cmd === 'publish')).toHaveLength(1)
    const gone = once(tb.broker.aedes, 'clientDisconnect')
    r.destroy()
    await gone

    r = await session(tb.port, 10)
    const again = await until(r, publishOf('h1')) as Pub
    expect({ id: again.messageId, dup: again.dup }).toEqual({ id: first.messageId, dup: true })
    for (const m of ['h2', 'h3']) {
      const p = await until(r, publishOf(m)) as Pub
      expect({ m, dup: p.dup }).toEqual({ m, dup: false })
    }
  })
})
