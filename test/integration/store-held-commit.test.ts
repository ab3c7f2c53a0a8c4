// Group commit keeps Warden's promise on both durable stores: a QoS 1 or 2 message is acknowledged to its
// publisher only once the write that queues it for a persistent subscriber is done — on level the batch on
// disk (store/group-commit.ts), on Redis the script call run (store/redis-batch.ts). A preloaded test module
// holds that write (hold-batch.mjs, hold-redis-batch.mjs); the broker is SIGKILLed while it is held (Redis keeps
// running): the publisher must have no PUBACK/PUBREC, and once it sends the message again after the restart
// the subscriber gets it.
import type { Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { startBrokerProcess, type BrokerProcess } from '../helpers/broker-process.js'
import { useBrokerEnv } from '../helpers/broker-env.js'
import { heldWhileRunning, holding } from '../helpers/held-store.js'
import { subscribe } from '../helpers/mqtt.js'
import { rawSession } from '../helpers/raw-mqtt.js'
import { useScope } from '../helpers/scope.js'

const HELD = 'sensors/sensor-1/held'

const scope = useScope()

const STORES = [
  { persistence: 'level', hold: 'hold-batch.mjs', write: 'is not on disk' },
  { persistence: 'redis', hold: 'hold-redis-batch.mjs', write: 'has not run in Redis' }
] as const

describe.each(STORES)('$persistence: a message whose queue write $write', ({ persistence, hold }) => {
  const store = useBrokerEnv(scope, `warden-commit-${persistence}-`, persistence)

  async function startNode (held: boolean): Promise<BrokerProcess> {
    const node = await startBrokerProcess({ ...store.env(), ...(held ? holding(hold, { WARDEN_TEST_HOLD_TOPIC: HELD }) : {}) })
    scope.defer(() => node.app.stop('SIGKILL'))
    return node
  }

  for (const qos of [1, 2] as const) {
    it(`is not acknowledged at QoS ${qos}, and is delivered once sent again after a SIGKILL`, async () => {
      const node = await startNode(true)
      const reader = await scope.client('dashboard', { clientId: 'reader', clean: false }, node)
      await subscribe(reader, 'sensors/#', qos)
      await reader.end()
      const device = scope.track(await rawSession(node.port, 'sensor-1', 'device-1'))
      const publish = { cmd: 'publish', topic: HELD, payload: Buffer.from('held'), qos, messageId: 7, retain: false, dup: false } as Packet
      device.send(publish)
      await heldWhileRunning(scope, node)
      await node.app.stop('SIGKILL')
      // everything the broker wrote before it died has been read once the connection is seen closed
      await device.closed()
      expect(device.packets.map((p) => p.cmd)).toEqual(['connack'])

      const again = await startNode(false)
      const back = await scope.client('dashboard', { clientId: 'reader', clean: false }, again)
      const resend = scope.track(await rawSession(again.port, 'sensor-1', 'device-1'))
      resend.send({ ...publish, dup: true } as Packet)
      await resend.next(qos === 1 ? 'puback' : 'pubrec')
      if (qos === 2) resend.send({ cmd: 'pubrel', messageId: 7 } as Packet)
      await back.waitFor((m) => m.topic === HELD)
      expect(back.messages.filter((m) => m.topic === HELD).map((m) => m.payload)).toEqual(['held'])
    })
  }

  // connected as it is queued, the subscriber is given the message's packet id then, and the write that queues it
  // holds that id (aedes/queued-ids.ts): nothing is written when it is sent, so nothing must be sent before that write
  it('is neither acknowledged nor sent at QoS 2 to a subscriber connected as it is queued, and is delivered once after a SIGKILL', async () => {
    const node = await startNode(true)
    const live = scope.track(await rawSession(node.port, 'dashboard', 'reader', { clean: false }))
    live.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos: 2 }] } as Packet)
    await live.next('suback')
    const device = scope.track(await rawSession(node.port, 'sensor-1', 'device-1'))
    const publish = { cmd: 'publish', topic: HELD, payload: Buffer.from('held'), qos: 2, messageId: 7, retain: false, dup: false } as Packet
    device.send(publish)
    await heldWhileRunning(scope, node)
    await node.app.stop('SIGKILL')
    await Promise.all([device.closed(), live.closed()])
    expect(device.packets.map((p) => p.cmd)).toEqual(['connack'])
    expect(live.packets.map((p) => p.cmd)).toEqual(['connack', 'suback'])

    const again = await startNode(false)
    const back = await scope.client('dashboard', { clientId: 'reader', clean: false }, again)
    const resend = scope.track(await rawSession(again.port, 'sensor-1', 'device-1'))
    resend.send({ ...publish, dup: true } as Packet)
    await resend.next('pubrec')
    resend.send({ cmd: 'pubrel', messageId: 7 } as Packet)
    await resend.next('pubcomp')
    await back.waitFor((m) => m.topic === HELD)
    expect(back.messages.filter((m) => m.topic === HELD).map((m) => m.payload)).toEqual(['held'])
  })
})
