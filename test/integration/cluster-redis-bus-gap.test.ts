// A worker whose bus connection to Redis is lost while the other workers keep theirs (the moment after a Redis
// restart, when the others have reconnected and this one has not subscribed again): what the others publish
// meanwhile reaches no one on it. A persistent subscriber that stays connected to it gets those messages from
// its queue once the bus is back, without reconnecting, and at QoS 2 once (a live copy that still comes after
// the replay is dropped). The relay in front of Redis (helpers/redis-relay.ts) orders what each worker sees.
import { Redis } from 'ioredis'
import type { Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import type { TestBroker } from '../helpers/broker.js'
import { count, knows, node as nodeOf, publish, until, useRelays } from '../helpers/bus-gap.js'
import { get } from '../helpers/http.js'
import { subscribe } from '../helpers/mqtt.js'
import { useSharedRedis } from '../helpers/redis.js'
import type { RedisRelay } from '../helpers/redis-relay.js'
import { packetWhere, rawSession } from '../helpers/raw-mqtt.js'
import { useScope } from '../helpers/scope.js'

const redis = useSharedRedis()
// registered before the scope's: runs after it, once the brokers are closed (a broker whose Redis is cut takes
// seconds to close)
const relayOf = useRelays(redis)
const scope = useScope()
const node = (brokerId: string, url: string): Promise<TestBroker> => nodeOf(scope, brokerId, url)
const relay = (): Promise<RedisRelay> => relayOf(scope)

const readyz = async (b: TestBroker): Promise<number> => (await get(b, '/readyz', { as: null })).status

describe('a worker whose bus missed messages while it was away from Redis', () => {
  it('sends them to a persistent subscriber that stayed connected, from its queue, once the bus is back', async () => {
    const toB = await relay()
    const [a, b] = await Promise.all([node('a', redis.url), node('b', toB.url)])
    const sub = await scope.client('dashboard', { clientId: 'gap-keep', clean: false, reconnectPeriod: 200 }, b)
    await subscribe(sub, 'sensors/#', 2)
    await until(async () => await knows(a, 'gap-keep'), "a having b's subscriber's subscription")
    let reconnects = 0
    sub.client.on('connect', () => { reconnects++ })
    const pub = await scope.client('sensor-1', {}, a)
    await publish(pub, 'before', 1)
    await sub.waitFor((m) => m.payload === 'before')

    // b loses Redis; a does not, and its publishers are acknowledged: their messages are in b's subscriber's queue
    await toB.cut()
    await publish(pub, 'gap-1', 1)
    await publish(pub, 'gap-2', 2)
    toB.restore()
    await until(async () => await readyz(b) === 200, 'b ready again')
    await until(() => count(sub, 'gap-1') > 0 && count(sub, 'gap-2') > 0, 'the messages published while b was away')
    await publish(pub, 'after', 2)
    await sub.waitFor((m) => m.payload === 'after')

    expect(count(sub, 'gap-1')).toBeGreaterThanOrEqual(1)
    expect(count(sub, 'gap-2')).toBe(1)
    expect(sub.messages.find((m) => m.payload === 'gap-2')?.qos).toBe(2)
    expect(reconnects).toBe(0)
    expect(sub.client.connected).toBe(true)
  })

  it('at QoS 2, a live copy coming after the queue sent the message is not sent again', async () => {
    const [toA, toB] = await Promise.all([relay(), relay()])
    const [a, b] = await Promise.all([node('a', toA.url), node('b', toB.url)])
    const sub = await scope.client('dashboard', { clientId: 'gap-q2', clean: false, reconnectPeriod: 200 }, b)
    await subscribe(sub, 'sensors/#', 2)
    await until(async () => await knows(a, 'gap-q2'), "a having b's subscriber's subscription")
    const pub = await scope.client('sensor-1', {}, a)
    await publish(pub, 'before', 2)
    await sub.waitFor((m) => m.payload === 'before')
    // b's subscriber acknowledged it: its queue is empty once the acknowledgement's write is in
    const db = new Redis(redis.url)
    scope.defer(() => db.disconnect())
    await until(async () => await db.llen('outgoing:gap-q2') === 0, 'the first message acknowledged')

    // a queues the message, and its PUBLISH on the bus waits in the relay
    toA.holdPublishes('late')
    const late = publish(pub, 'late', 2)
    await until(async () => await db.llen('outgoing:gap-q2') === 1, 'the message queued')
    // b's bus is subscribed again meanwhile: the queue is read and the message sent from it
    await toB.cut()
    toB.restore()
    await until(() => count(sub, 'late') > 0, 'the queued message, sent by b once its bus is back')
    // then a's PUBLISH reaches Redis, and b, subscribed again, gets the live copy
    toA.release()
    await late
    // a's bus publishes reach b in order: once this one is here, the live copy has been and gone
    await publish(pub, 'after', 2)
    await sub.waitFor((m) => m.payload === 'after')

    expect(count(sub, 'late')).toBe(1)
    expect(sub.client.connected).toBe(true)
    // the queue holds nothing of it: the replayed copy's acknowledgement took the entry the live copy left alone
    await until(async () => await db.llen('outgoing:gap-q2') === 0, 'the queue emptied by the acknowledgements')
  })

  it('a live copy dropped so leaves the queued message to the replayed copy, sent again if that one is not acknowledged', async () => {
    const [toA, toB] = await Promise.all([relay(), relay()])
    const [a, b] = await Promise.all([node('a', toA.url), node('b', toB.url)])
    // a subscriber that acknowledges nothing, then leaves
    const raw = scope.track(await rawSession(b.port, 'dashboard', 'gap-raw', { clean: false }))
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos: 1 }] } as Packet)
    await raw.next('suback')
    await until(async () => await knows(a, 'gap-raw'), "a having b's subscriber's subscription")
    const pub = await scope.client('sensor-1', {}, a)
    const db = new Redis(redis.url)
    scope.defer(() => db.disconnect())

    toA.holdPublishes('late')
    const late = publish(pub, 'late', 1)
    await until(async () => await db.llen('outgoing:gap-raw') === 1, 'the message queued')
    await toB.cut()
    toB.restore()
    await packetWhere(raw, (p) => p.cmd === 'publish' && p.payload.toString() === 'late')
    toA.release()
    await late
    await publish(pub, 'after', 1)
    await packetWhere(raw, (p) => p.cmd === 'publish' && p.payload.toString() === 'after')
    raw.destroy()

    // neither was acknowledged: the session resumed is sent both
    const back = await scope.client('dashboard', { clientId: 'gap-raw', clean: false }, b)
    await until(() => count(back, 'late') > 0 && count(back, 'after') > 0, 'both messages, on the session resumed')
  })
})
