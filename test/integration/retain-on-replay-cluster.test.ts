// A retained message queued on one broker process for persistent sessions that return on another: each gets the
// RETAIN flag its subscription gives a live delivery (0; 1 with Retain As Published), read from the subscriptions
// the second process restores from Redis (delivery/replay-retain.ts; the single-process cases are in
// retain-on-replay.test.ts).
import type { IClientSubscribeOptions, IPublishPacket } from 'mqtt'
import { describe, expect, it } from 'vitest'
import { basic } from '../helpers/http.js'
import { useCluster, type BrokerNode } from '../helpers/cluster.js'
import { connect5, type V5Client } from '../helpers/mqtt5.js'
import { waitUntil } from '../helpers/ports.js'
import { useScope } from '../helpers/scope.js'

const { startNode } = useCluster('warden-replay-retain-')
const scope = useScope()
const TOPIC = 'sensors/sensor-1/load'

const SESSIONS = [
  { name: 'v4', v: 4, rap: false, retain: false },
  { name: 'v5', v: 5, rap: false, retain: false },
  { name: 'v5-rap', v: 5, rap: true, retain: true }
] as const

const persistent = (clientId: string, v: 4 | 5): Parameters<typeof connect5>[3] =>
  ({ clientId, clean: false, protocolVersion: v, ...v === 5 ? { properties: { sessionExpiryInterval: 300 } } : {} })

/** the broker processes' own view of a session: stored and not connected */
async function away (node: BrokerNode, clientId: string): Promise<void> {
  await waitUntil(async () => {
    const r = await fetch(`${node.http}/api/v1/sessions/${clientId}`, { headers: { authorization: basic('observer') } })
    return r.status === 200 && !((await r.json()) as { connected: boolean }).connected ? true : undefined
  }, `${clientId} away`, 10_000)
}

const seen = (c: V5Client): string[] => c.got.map((m) => `${m.payload.toString()}:${String(m.retain)}`)
const payloadIs = (s: string) => (m: IPublishPacket): boolean => m.payload.toString() === s

describe('a retained message queued on one process, replayed on another', () => {
  it.each([1, 2] as const)('QoS %i: RETAIN 0 for MQTT 3.1.1 and MQTT 5 without Retain As Published, 1 with it', async (qos) => {
    const [a, b] = await Promise.all([startNode(), startNode()])
    const idOf = (name: string): string => `replay-cluster-q${qos}-${name}`
    for (const s of SESSIONS) {
      const sub = await connect5(scope, a.url, 'dashboard', persistent(idOf(s.name), s.v))
      await new Promise<void>((resolve, reject) => {
        sub.client.subscribe('sensors/#', { qos, rap: s.rap } as IClientSubscribeOptions, (err) => { if (err == null) resolve(); else reject(err) })
      })
      await sub.client.endAsync()
      await away(a, idOf(s.name))
    }

    const pub = await connect5(scope, a.url, 'sensor-1')
    await pub.client.publishAsync(TOPIC, 'kept', { qos, retain: true })
    await pub.client.publishAsync(TOPIC, 'after', { qos })
    for (const s of SESSIONS) {
      const back = await connect5(scope, b.url, 'dashboard', persistent(idOf(s.name), s.v))
      expect(back.connack.sessionPresent).toBe(true)
      await back.next(payloadIs('after'))
      expect({ session: s.name, seen: seen(back) }).toEqual({ session: s.name, seen: [`kept:${String(s.retain)}`, 'after:false'] })
    }
  })
})
