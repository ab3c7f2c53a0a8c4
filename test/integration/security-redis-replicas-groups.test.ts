// redis.waitForReplicas and consumer groups: a QoS 1 message kept in a group's Redis queue (no member
// connected) is acknowledged to its publisher only once the replica has it, as every other acknowledgement.
// Replication is made to lag by stopping the replica (SIGSTOP), or by holding its link at one write.
import { Redis } from 'ioredis'
import { once } from 'node:events'
import { connect as tcpConnect, type Socket } from 'node:net'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { subscribe } from '../helpers/mqtt.js'
import { replicaCaughtUp, replicationLink, startRedis, type TestRedis } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'
import type { TestBroker } from '../helpers/broker.js'

const scope = useScope()
let master: TestRedis
let replica: TestRedis

beforeAll(async () => {
  master = await startRedis()
  replica = await startRedis({ replicaOf: master.port })
  await replicaCaughtUp(master, replica)
})
afterAll(async () => {
  replica?.resume()
  await replica?.stop()
  await master?.stop()
})

/**
 * Every command a Redis runs, in its order, through a plain MONITOR socket: ioredis's monitor mode loses a race
 * with a busy server (a command fed in the read that brings MONITOR's +OK arrives before ioredis counts the
 * connection as monitoring: "Command queue state error", thrown).
 */
async function monitorCommands (port: number, onCommand: (args: string[]) => void): Promise<Socket> {
  const socket = tcpConnect(port, '127.0.0.1')
  socket.on('error', () => {})
  await once(socket, 'connect')
  let buffered = ''
  let ok: () => void = () => {}
  const started = new Promise<void>((resolve) => { ok = resolve })
  socket.on('data', (d: Buffer) => {
    buffered += d.toString('latin1')
    for (let i = buffered.indexOf('\r\n'); i >= 0; i = buffered.indexOf('\r\n')) {
      const line = buffered.slice(0, i)
      buffered = buffered.slice(i + 2)
      if (line === '+OK') { ok(); continue }
      // +<time> [<db> <client>] "arg" "arg" …
      const args = [...line.slice(line.indexOf('] ') + 2).matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1] as string)
      onCommand(args)
    }
  })
  socket.write('MONITOR\r\n')
  await started
  return socket
}

/** publishes and settles with whether its flow completed (QoS 1 PUBACK, QoS 2 PUBCOMP; false: the connection closed first) */
function acknowledged (c: MqttClient, topic: string, payload: string, qos: 1 | 2 = 1): Promise<boolean> {
  return new Promise((resolve) => {
    const onClose = (): void => resolve(false)
    c.once('close', onClose)
    c.publish(topic, payload, { qos }, (err) => { c.off('close', onClose); resolve(err === undefined || err === null) })
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
  const monitor = await monitorCommands(master.port, (args) => seen.push(args.slice(0, 4).join(' ').toLowerCase()))
  scope.defer(() => monitor.destroy())
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

it('a message whose group copy the replica does not confirm is not acknowledged, though its store writes were: no PUBACK, no PUBREC', async () => {
  // a pair of its own, its replication through a relay that can stop at one write
  const own = await startRedis()
  const link = await replicationLink(own.port)
  let copy: TestRedis | undefined
  let tb: TestBroker | undefined
  try {
    // the replica's first sync at once (Redis waits 5 s for more replicas to sync together, by default)
    const admin = new Redis(own.url)
    try { await admin.config('SET', 'repl-diskless-sync-delay', '0') } finally { admin.disconnect() }
    copy = await startRedis({ replicaOf: link.port })
    await replicaCaughtUp(own, copy)
    tb = await scope.start({
      config: { persistence: 'redis', redis: { url: own.url, waitForReplicas: 1, replicaTimeoutMs: 300 }, brokerId: 'short' }
    })
    // the only receiver: a consumer group whose one member is gone
    const keep = { clientId: 'short-member', clean: false }
    const member = await scope.client('dashboard', keep)
    await subscribe(member, '$share/short/sensors/sensor-1/#', 1)
    await member.end()
    const pub = await scope.client('sensor-1', { reconnectPeriod: 0 })
    expect(await acknowledged(pub.client, 'sensors/sensor-1/t', 'before')).toBe(true)
    // the replica gets the store's writes of the next message (their WAIT is answered), and nothing from the
    // write of its copy into the group's queue on: that WAIT times out
    link.holdAt('warden:share:q:short/')
    const started = Date.now()
    expect(await acknowledged(pub.client, 'sensors/sensor-1/t', 'unconfirmed')).toBe(false)
    expect(Date.now() - started).toBeGreaterThanOrEqual(300)
    link.release()
    await replicaCaughtUp(own, copy)
    // the device sends it again: acknowledged now, and the member gets it (perhaps twice: the first copy
    // reached the master's queue)
    const again = await scope.client('sensor-1', { reconnectPeriod: 0 })
    expect(await acknowledged(again.client, 'sensors/sensor-1/t', 'unconfirmed')).toBe(true)
    // QoS 2: the stored PUBLISH is confirmed, its group copy is not: no PUBREC
    link.holdAt('warden:share:q:short/')
    expect(await acknowledged(again.client, 'sensors/sensor-1/t', 'unconfirmed-2', 2)).toBe(false)
    link.release()
    await replicaCaughtUp(own, copy)
    const last = await scope.client('sensor-1', { reconnectPeriod: 0 })
    expect(await acknowledged(last.client, 'sensors/sensor-1/t', 'unconfirmed-2', 2)).toBe(true)
    const back = await scope.client('dashboard', keep)
    for (const p of ['before', 'unconfirmed', 'unconfirmed-2']) await back.waitFor((m) => m.payload === p)
  } finally {
    // the broker before its Redis: one whose Redis has just gone waits for it a while as it shuts down
    await tb?.close()
    await copy?.stop()
    link.close()
    await own.stop()
  }
})
