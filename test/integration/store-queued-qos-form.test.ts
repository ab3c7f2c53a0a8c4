// A QoS 2 message queued for two offline persistent subscribers, one granted QoS 1 and one QoS 2, reaches each at
// the QoS its subscription was granted (MQTT-3.8.4-6, MQTT-3.3.5): the QoS 1 one gets a QoS 1 PUBLISH and a PUBACK
// flow, never a PUBREC/PUBREL it did not ask for. store/queued-qos.ts queues the message once per QoS, the QoS 1
// copy first; on `persistence: redis` the message's record (packet:<brokerId>:<counter>) was one for all its
// subscribers, and the QoS 2 copy, written second, replaced it: the QoS 1 subscriber was sent it at QoS 2
// (apps/broker/src/store/redis-queues.ts). On `level` every queue has its own copy. Each store is checked with
// both subscribers offline across a broker restart and without one.
import type { Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { clientsOf } from '../../apps/broker/src/aedes/accessors.js'
import { publish, subscribe } from '../helpers/mqtt.js'
import { packetWhere, rawSession, type RawClient } from '../helpers/raw-mqtt.js'
import { useSharedRedis } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'
import { waitUntil } from '../helpers/ports.js'

type Pub = Packet & { cmd: 'publish', topic: string, payload: Buffer, qos: number, messageId: number }

const redis = useSharedRedis()
const scope = useScope()

async function start (persistence: 'level' | 'redis'): Promise<void> {
  if (persistence === 'level') {
    await scope.start()
    return
  }
  await scope.start({ config: { persistence: 'redis', redis: { url: redis.url } } })
}

const reader = async (clientId: string): Promise<RawClient> =>
  scope.track(await rawSession(scope.tb.port, 'dashboard', clientId, { clean: false }))

/** a persistent session of `clientId` subscribed to sensors/# at `qos`, then gone (DISCONNECT, and the broker has let it go) */
async function awaySubscriber (clientId: string, qos: 1 | 2): Promise<void> {
  const c = await reader(clientId)
  c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos }] } as Packet)
  expect((await c.next('suback') as Packet & { granted: number[] }).granted).toEqual([qos])
  c.send({ cmd: 'disconnect' } as Packet)
  await c.closed()
  await waitUntil(() => clientsOf(scope.tb.broker.aedes)[clientId] === undefined ? true : undefined, `${clientId} to be let go`, 5000, 10)
}

/** sensor-1 publishes `payload` at QoS 2, its handshake completed */
async function publishQos2 (payload: string): Promise<void> {
  const s = scope.track(await rawSession(scope.tb.port, 'sensor-1', 'sensor-1'))
  s.send({ cmd: 'publish', topic: 'sensors/sensor-1/form', payload: Buffer.from(payload), qos: 2, messageId: 1, retain: false, dup: false } as Packet)
  await s.next('pubrec')
  s.send({ cmd: 'pubrel', messageId: 1 } as Packet)
  await s.next('pubcomp')
}

/** what the broker sent `c` once every packet before a PINGRESP has arrived */
async function settled (c: RawClient): Promise<Packet[]> {
  c.send({ cmd: 'pingreq' } as Packet)
  await c.next('pingresp')
  return [...c.packets]
}

describe.each(['redis', 'level'] as const)('on %s, a QoS 2 message queued for a QoS 1 and a QoS 2 persistent subscriber', (persistence) => {
  for (const restart of [false, true]) {
    it(`reaches each at its granted QoS${restart ? ' after a broker restart' : ''} (MQTT-3.8.4-6)`, async () => {
      await start(persistence)
      await awaySubscriber('reader-q1', 1)
      await awaySubscriber('reader-q2', 2)
      await publishQos2('m-form')
      if (restart) await scope.restart()

      // the QoS 1 subscriber first (its copy read from the store while the QoS 2 one's is still there)
      const q1 = await reader('reader-q1')
      const m1 = await packetWhere(q1, (p) => p.cmd === 'publish') as Pub
      expect([m1.payload.toString(), m1.qos]).toEqual(['m-form', 1])
      q1.send({ cmd: 'puback', messageId: m1.messageId } as Packet)
      // exactly one PUBLISH, and no QoS 2 flow of any kind
      expect((await settled(q1)).map((p) => p.cmd)).toEqual(['connack', 'publish', 'pingresp'])

      const q2 = await reader('reader-q2')
      const m2 = await packetWhere(q2, (p) => p.cmd === 'publish') as Pub
      expect([m2.payload.toString(), m2.qos]).toEqual(['m-form', 2])
      q2.send({ cmd: 'pubrec', messageId: m2.messageId } as Packet)
      await packetWhere(q2, (p) => p.cmd === 'pubrel' && (p as { messageId?: number }).messageId === m2.messageId)
      q2.send({ cmd: 'pubcomp', messageId: m2.messageId } as Packet)
      expect((await settled(q2)).map((p) => p.cmd)).toEqual(['connack', 'publish', 'pubrel', 'pingresp'])

      // both queues empty: nothing more on a new session of either
      for (const id of ['reader-q1', 'reader-q2']) {
        q1.destroy()
        q2.destroy()
        const again = await reader(id)
        expect((await settled(again)).map((p) => p.cmd)).toEqual(['connack', 'pingresp'])
        again.destroy()
      }
    })
  }

  it('reaches an MQTT.js QoS 1 subscriber at QoS 1, the QoS 2 subscriber still offline', async () => {
    await start(persistence)
    const opts = { clientId: 'reader-js', clean: false }
    const js = await scope.client('dashboard', opts)
    expect(await subscribe(js, 'sensors/#', 1)).toEqual([1])
    await js.end()
    await waitUntil(() => clientsOf(scope.tb.broker.aedes)['reader-js'] === undefined ? true : undefined, 'reader-js to be let go', 5000, 10)
    await awaySubscriber('reader-q2', 2)
    const s = await scope.client('sensor-1')
    await publish(s, 'sensors/sensor-1/form', 'm-js', { qos: 2 })

    const back = await scope.client('dashboard', opts)
    const m = await back.waitFor((x) => x.payload === 'm-js')
    expect(m.qos).toBe(1)
  })
})
