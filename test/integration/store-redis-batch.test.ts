// Group commit on Redis (apps/broker/src/store/redis-batch.ts) keeps Warden's promise: a QoS 1 or 2 message
// is acknowledged to its publisher only once the script call that queues it for a persistent subscriber has
// run in Redis. A preloaded test module holds that call (test/helpers/hold-redis-batch.mjs); the broker is
// SIGKILLed while it is held, Redis keeps running: the publisher must have no PUBACK/PUBREC, and once it
// sends the message again after the restart the subscriber gets it.
import { fileURLToPath } from 'node:url'
import type { Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { startBrokerProcess, type BrokerProcess } from '../helpers/broker-process.js'
import { subscribe } from '../helpers/mqtt.js'
import { rawSession } from '../helpers/raw-mqtt.js'
import { useRedisBroker } from '../helpers/redis-broker.js'
import { useScope } from '../helpers/scope.js'

const HELD = 'sensors/sensor-1/held'
const HOLD = fileURLToPath(new URL('../helpers/hold-redis-batch.mjs', import.meta.url))

const scope = useScope()
const onRedis = useRedisBroker(scope, 'warden-redis-commit-')

async function startNode (hold: boolean): Promise<BrokerProcess> {
  const node = await startBrokerProcess({
    ...onRedis.env(),
    ...(hold ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${HOLD}`, WARDEN_TEST_HOLD_TOPIC: HELD } : {})
  })
  scope.defer(() => node.app.stop('SIGKILL'))
  return node
}

describe('a message whose queue write has not run in Redis', () => {
  for (const qos of [1, 2] as const) {
    it(`is not acknowledged at QoS ${qos}, and is delivered once sent again after a SIGKILL`, async () => {
      const node = await startNode(true)
      const reader = await scope.client('dashboard', { clientId: 'reader', clean: false }, node)
      await subscribe(reader, 'sensors/#', qos)
      await reader.end()
      const device = scope.track(await rawSession(node.port, 'sensor-1', 'device-1'))
      const publish = { cmd: 'publish', topic: HELD, payload: Buffer.from('held'), qos, messageId: 7, retain: false, dup: false } as Packet
      device.send(publish)
      await node.app.waitForLog((l) => l.msg === 'test: store batch held')
      // the broker has been running meanwhile: it answers another client's CONNECT and ten PINGREQs (a
      // PUBACK it would send without waiting for the batch goes out within those turns)
      const probe = scope.track(await rawSession(node.port, 'sensor-2', 'probe'))
      for (let i = 0; i < 10; i++) {
        probe.send({ cmd: 'pingreq' } as Packet)
        await probe.next('pingresp')
        probe.packets.length = 0
      }
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
})
