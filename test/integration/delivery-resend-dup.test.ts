// A persistent subscriber that leaves with a QoS 1 and a QoS 2 message sent and not acknowledged is sent both
// again when it comes back, under the ids it was first sent them under and with DUP set (MQTT-4.4.0-1,
// MQTT-3.3.1-1). aedes sent them again with DUP 0 (delivery/resend-dup.ts). The SIGKILL case on Redis, two
// subscribers: store-redis-sent-ids.test.ts.
import { once } from 'node:events'
import type { Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { publish } from '../helpers/mqtt.js'
import { packetWhere, rawSession, type RawClient } from '../helpers/raw-mqtt.js'
import { useScope } from '../helpers/scope.js'

type Pub = Packet & { cmd: 'publish', payload: Buffer, qos: number, messageId: number, dup: boolean }

const scope = useScope()
const publishOf = (payload: string) => (p: Packet): boolean => p.cmd === 'publish' && (p as Pub).payload.toString() === payload

describe.each(['memory', 'level'] as const)('a persistent session resumed on %s', (persistence) => {
  it('is sent its unacknowledged QoS 1 and 2 messages again under their ids, DUP set, and what was queued meanwhile with DUP 0', async () => {
    const tb = await scope.start({ config: { persistence } })
    const reader = async (): Promise<RawClient> => scope.track(await rawSession(tb.port, 'dashboard', 'dup-reader', { clean: false }))
    let r = await reader()
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos: 2 }] } as Packet)
    await r.next('suback')
    const pub = await scope.client('sensor-1')
    await publish(pub, 'sensors/sensor-1/dup', 'q1', { qos: 1 })
    await publish(pub, 'sensors/sensor-1/dup', 'q2', { qos: 2 })
    const first = new Map<string, number>()
    for (const m of ['q1', 'q2']) {
      const p = await packetWhere(r, publishOf(m)) as Pub
      expect(p.dup).toBe(false)
      first.set(m, p.messageId)
    }
    const gone = once(tb.broker.aedes, 'clientDisconnect')
    r.destroy()
    await gone
    // queued while it was away, never sent: a first delivery, DUP 0
    await publish(pub, 'sensors/sensor-1/dup', 'q1-new', { qos: 1 })
    await publish(pub, 'sensors/sensor-1/dup', 'q2-new', { qos: 2 })

    r = await reader()
    for (const m of ['q1', 'q2']) {
      const p = await packetWhere(r, publishOf(m)) as Pub
      expect({ m, id: p.messageId, dup: p.dup }).toEqual({ m, id: first.get(m), dup: true })
    }
    for (const m of ['q1-new', 'q2-new']) {
      const p = await packetWhere(r, publishOf(m)) as Pub
      expect({ m, dup: p.dup }).toEqual({ m, dup: false })
    }
  })
})
