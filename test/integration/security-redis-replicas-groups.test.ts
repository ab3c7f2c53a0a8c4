// redis.waitForReplicas and consumer groups: a QoS 1 message kept in a group's Redis queue (no member
// connected) is acknowledged to its publisher only once the replica has it, as every other acknowledgement.
// Replication is made to lag by stopping the replica (SIGSTOP).
import { Redis } from 'ioredis'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { subscribe } from '../helpers/mqtt.js'
import { startRedis, type TestRedis } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
let master: TestRedis
let replica: TestRedis

async function inSync (): Promise<void> {
  const m = new Redis(master.url)
  const r = new Redis(replica.url)
  try {
    for (;;) {
      const info = await r.info('replication')
      if (info.includes('master_link_status:up') && await m.call('WAIT', '1', '100') === 1) return
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  } finally {
    m.disconnect()
    r.disconnect()
  }
}

beforeAll(async () => {
  master = await startRedis()
  replica = await startRedis({ replicaOf: master.port })
  await inSync()
})
afterAll(async () => {
  replica?.resume()
  await replica?.stop()
  await master?.stop()
})

function acknowledged (c: MqttClient, topic: string, payload: string): Promise<boolean> {
  return new Promise((resolve) => {
    const onClose = (): void => resolve(false)
    c.once('close', onClose)
    c.publish(topic, payload, { qos: 1 }, (err) => { c.off('close', onClose); resolve(err === undefined || err === null) })
  })
}

it('a message kept in a consumer group\'s queue is acknowledged only past a WAIT sent after its queue write', async () => {
  await scope.start({
    config: { persistence: 'redis', redis: { url: master.url, waitForReplicas: 1, replicaTimeoutMs: 5000 }, brokerId: 'waits' }
  })
  // a persistent member of the group, gone: the group keeps QoS 1 messages for it
  const member = await scope.client('dashboard', { clientId: 'group-member', clean: false })
  await subscribe(member, '$share/workers/sensors/#', 1)
  await member.end()
  const pub = await scope.client('sensor-1', { reconnectPeriod: 0 })
  // every command the master runs, in its order
  const seen: string[] = []
  const monitor = await new Redis(master.url).monitor()
  scope.defer(() => monitor.disconnect())
  monitor.on('monitor', (_time: string, args: string[]) => { seen.push(args.slice(0, 4).join(' ').toLowerCase()) })
  const marker = new Redis(master.url)
  scope.defer(() => marker.disconnect())
  await marker.ping('before-publish')
  expect(await acknowledged(pub.client, 'sensors/sensor-1/t', 'kept')).toBe(true)
  // the PUBACK is here: what the master ran until now ends at this marker
  await marker.ping('after-puback')
  await expect.poll(() => seen.some((c) => c.includes('after-puback'))).toBe(true)
  const from = seen.findIndex((c) => c.includes('before-publish'))
  const to = seen.findIndex((c) => c.includes('after-puback'))
  const between = seen.slice(from, to)
  const push = between.findIndex((c) => c.startsWith('eval') && c.includes('warden:share:q:workers/sensors/#'))
  expect(push, JSON.stringify(between)).toBeGreaterThan(-1)
  // the queued copy was waited for: a WAIT came after it, before the PUBACK
  expect(between.slice(push + 1).some((c) => c.startsWith('wait')), JSON.stringify(between)).toBe(true)
})
