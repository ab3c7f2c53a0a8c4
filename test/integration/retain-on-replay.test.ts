// A retained QoS 1/2 message queued for a persistent session while it was away reaches it at its return with RETAIN 0
// (MQTT-3.3.1-9; MQTT 5: MQTT-3.3.1-12), as it would have live: it is sent because it matches an established
// subscription. Only a subscription with Retain As Published keeps RETAIN 1. aedes 2.0.0-beta.1 replayed the queue
// as stored, retained messages with RETAIN 1, to every subscriber (lib/handlers/connect.js emptyQueue); a QoS 1
// message sent live with RETAIN 0 and left unacknowledged came again with RETAIN 1. A retained message sent at a new
// SUBSCRIBE keeps RETAIN 1 (MQTT-3.3.1-8). Fixed in apps/broker/src/delivery/replay-retain.ts.
import type { Client, Subscription } from 'aedes'
import type { IClientSubscribeOptions, IPublishPacket } from 'mqtt'
import type { Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { PASSWORD, type TestBroker } from '../helpers/broker.js'
import { mosquittoSub, type Sub } from '../helpers/mosquitto.js'
import { publish } from '../helpers/mqtt.js'
import { connect5, type V5Client } from '../helpers/mqtt5.js'
import { connectPacket, packetWhere, rawClient } from '../helpers/raw-mqtt.js'
import { useSharedRedis } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'

const redis = useSharedRedis()
const scope = useScope()
const TOPIC = 'sensors/sensor-1/load'
const EXPIRY = { sessionExpiryInterval: 300 }

type Persistence = 'memory' | 'level' | 'redis'
type Version = 4 | 5

async function start (persistence: Persistence): Promise<TestBroker> {
  return await scope.start({ config: { persistence, ...persistence === 'redis' ? { redis: { url: redis.url } } : {} } })
}

/** a persistent session of the dashboard account (MQTT 3.1.1: clean 0; MQTT 5: Clean Start 0 and an expiry) */
const persistent = (clientId: string, v: Version): Parameters<typeof connect5>[3] =>
  ({ clientId, clean: false, protocolVersion: v, ...v === 5 ? { properties: EXPIRY } : {} })

async function subscribe (c: V5Client, filter: string, qos: 1 | 2, rap: boolean): Promise<void> {
  // MQTT.js writes no Retain As Published bit for a 3.1.1 client
  await new Promise<void>((resolve, reject) => {
    c.client.subscribe(filter, { qos, rap } as IClientSubscribeOptions, (err) => { if (err == null) resolve(); else reject(err) })
  })
}

/** resolves when aedes has done with the client `clientId` (its close steps run) */
function gone (tb: TestBroker, clientId: string): Promise<void> {
  return new Promise((resolve) => {
    const on = (c: Client): void => { if (c.id === clientId) { tb.broker.aedes.removeListener('clientDisconnect', on); resolve() } }
    tb.broker.aedes.on('clientDisconnect', on)
  })
}

/** resolves when the broker has processed a SUBSCRIBE of `clientId` */
function subscribed (tb: TestBroker, clientId: string): Promise<void> {
  return new Promise((resolve) => {
    const on = (_s: Subscription[], c: Client): void => { if (c.id === clientId) { tb.broker.aedes.removeListener('subscribe', on); resolve() } }
    tb.broker.aedes.on('subscribe', on)
  })
}

const seen = (c: V5Client): string[] => c.got.map((m) => `${m.payload.toString()}:${String(m.retain)}`)
const payloadIs = (s: string) => (m: IPublishPacket): boolean => m.payload.toString() === s

/** the subscribers of one message, all away while it is published: their RETAIN flag at their return */
const SESSIONS = [
  { name: 'v4', v: 4, rap: false, retain: false },
  { name: 'v5', v: 5, rap: false, retain: false },
  { name: 'v5-rap', v: 5, rap: true, retain: true }
] as const

describe.each(['memory', 'level', 'redis'] as const)('a retained message queued for a persistent session (%s)', (persistence) => {
  // on Redis one record of the message serves every queue that holds it: each subscriber still gets its own form
  it.each([1, 2] as const)('QoS %i: replayed with RETAIN 0 (3.1.1; MQTT 5 without Retain As Published), 1 with it; a new SUBSCRIBE: RETAIN 1', async (qos) => {
    const tb = await start(persistence)
    const idOf = (name: string): string => `replay-q${qos}-${name}`
    for (const s of SESSIONS) {
      const sub = await connect5(scope, tb.url, 'dashboard', persistent(idOf(s.name), s.v))
      await subscribe(sub, 'sensors/#', qos, s.rap)
      const left = gone(tb, idOf(s.name))
      await sub.client.endAsync()
      await left
    }

    const pub = await scope.client('sensor-1', {}, tb)
    await publish(pub, TOPIC, 'kept', { qos, retain: true })
    await publish(pub, TOPIC, 'after', { qos })
    for (const s of SESSIONS) {
      const back = await connect5(scope, tb.url, 'dashboard', persistent(idOf(s.name), s.v))
      expect(back.connack.sessionPresent).toBe(true)
      // the queue comes back in order: 'kept' before 'after'
      await back.next(payloadIs('after'))
      expect({ session: s.name, seen: seen(back) }).toEqual({ session: s.name, seen: [`kept:${String(s.retain)}`, 'after:false'] })

      // a new subscription is sent the retained message as retained (MQTT-3.3.1-8)
      await subscribe(back, 'sensors/sensor-1/+', qos, false)
      await back.count(3)
      expect({ session: s.name, seen: seen(back) }).toEqual({ session: s.name, seen: [`kept:${String(s.retain)}`, 'after:false', 'kept:true'] })
      expect(back.client.connected).toBe(true)
    }
  })

  // aedes delivered it live with RETAIN 0 but kept the queued copy as published, which a QoS 1 resend is read from
  it.each([4, 5] as const)('MQTT %i: a retained QoS 1 message sent live and left unacknowledged is sent again with RETAIN 0', async (v) => {
    const tb = await start(persistence)
    const clientId = `replay-resend-v${v}`
    // a raw client, which acknowledges nothing
    const raw = await rawClient(tb.port, { protocolVersion: v })
    scope.defer(() => { raw.destroy() })
    raw.send(connectPacket('dashboard', clientId, { protocolVersion: v, clean: false, ...v === 5 ? { properties: EXPIRY } : {} } as Partial<Packet>))
    await raw.next('connack')
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos: 1 }] } as Packet)
    await raw.next('suback')
    const pub = await scope.client('sensor-1', {}, tb)
    await publish(pub, TOPIC, 'kept', { qos: 1, retain: true })
    const first = await packetWhere(raw, (p) => p.cmd === 'publish') as IPublishPacket
    expect(first.retain).toBe(false)
    const left = gone(tb, clientId)
    raw.destroy()
    await left

    const back = await connect5(scope, tb.url, 'dashboard', persistent(clientId, v))
    expect(back.connack.sessionPresent).toBe(true)
    const again = await back.next(payloadIs('kept'))
    expect({ messageId: again.messageId, dup: again.dup, retain: again.retain }).toEqual({ messageId: first.messageId, dup: true, retain: false })
  })

  it('mosquitto_sub (MQTT 3.1.1, clean session 0): the queued copy comes with RETAIN 0, the one its SUBSCRIBE brings with RETAIN 1', async () => {
    const tb = await start(persistence)
    const clientId = 'replay-mosquitto'
    const args = ['-i', clientId, '-c', '-q', '1', '-u', 'dashboard', '-P', PASSWORD, '-t', 'sensors/#', '-F', '%r %p']
    const watch = async (extra: string[] = []): Promise<Sub> => {
      const on = subscribed(tb, clientId)
      const s = mosquittoSub(tb.port, [...args, ...extra])
      scope.defer(() => s.stop())
      await Promise.race([on, s.exited().then((r) => { throw new Error(`mosquitto_sub exited: ${r.stderr}`) })])
      return s
    }
    const first = await watch()
    const left = gone(tb, clientId)
    await first.stop()
    await left

    const pub = await scope.client('sensor-1', {}, tb)
    await publish(pub, TOPIC, 'kept', { qos: 1, retain: true })
    // back, it subscribes again (as mosquitto_sub always does): a 3.1.1 SUBSCRIBE sends the retained message anew
    // (MQTT-3.8.4-3), besides the copy queued while it was away, which may come first or second
    const back = await watch(['-C', '2'])
    const done = await back.exited()
    expect(done.code).toBe(0)
    expect([...back.lines].sort()).toEqual(['0 kept', '1 kept'])
  })
})
