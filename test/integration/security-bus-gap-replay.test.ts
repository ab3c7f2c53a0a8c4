// The red team's cases against the queue replay a worker runs once its bus is back after a Redis outage
// (delivery/bus-gap.ts): what it sends must be what the subscriber may read now, as the registry has it.
import { Redis } from 'ioredis'
import type { Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { PASSWORD, type TestBroker } from '../helpers/broker.js'
import { count, knows, node as nodeOf, publish, until, useRelays } from '../helpers/bus-gap.js'
import { patch } from '../helpers/http.js'
import { subscribe } from '../helpers/mqtt.js'
import { useSharedRedis } from '../helpers/redis.js'
import type { RedisRelay } from '../helpers/redis-relay.js'
import { packetWhere, rawClient, rawSession, type RawClient } from '../helpers/raw-mqtt.js'
import { useScope } from '../helpers/scope.js'

const redis = useSharedRedis()
const relayOf = useRelays(redis)
const scope = useScope()
const node = (brokerId: string, url: string): Promise<TestBroker> => nodeOf(scope, brokerId, url)
const relay = (): Promise<RedisRelay> => relayOf(scope)

describe('the bus-gap replay, attacked by the holder of an account', () => {
  it('does not send a subscriber whose read grant was revoked while its worker was away what it may no longer read', async () => {
    const toB = await relay()
    const [a, b] = await Promise.all([node('a', redis.url), node('b', toB.url)])
    // dashboard reads sensors (consumer) and its own commands (producer)
    expect((await patch(a, '/api/v1/users/dashboard', { roles: ['consumer', 'producer'] })).status).toBe(200)
    await until(() => b.broker.registry.user('dashboard')?.roles.length === 2, 'b having the change')
    const sub = await scope.client('dashboard', { clientId: 'gap-revoked', clean: false }, b)
    await subscribe(sub, ['sensors/#', 'devices/dashboard/cmd/#'], 1)
    await until(async () => await knows(a, 'gap-revoked'), "a having b's subscriber's subscription")
    const pub = await scope.client('sensor-1', {}, a)
    const admin = await scope.client('admin', {}, a)
    await publish(pub, 'before', 1)
    await sub.waitFor((m) => m.payload === 'before')
    const db = new Redis(redis.url)
    scope.defer(() => db.disconnect())

    const patterns = async (): Promise<number> => await db.call('PUBSUB', 'NUMPAT') as number
    const subscribed = await patterns()
    await toB.cut()
    // the acknowledgement of 'before' may not have reached Redis before the cut
    const held = await db.llen('outgoing:gap-revoked')
    // an admin takes dashboard's read grant on sensors away (on a, which has Redis), then a device publishes
    expect((await patch(a, '/api/v1/users/dashboard', { roles: ['producer'] })).status).toBe(200)
    await publish(pub, 'after-revoke', 1)
    await until(async () => (await db.lrange('outgoing:gap-revoked', 0, -1)).length > held, 'the message queued')
    // b's registry reads Redis on a connection of its own, which may come back after the bus's (each retries on
    // its own timer, up to 2 s apart): here its read is held until the bus is subscribed again
    toB.holdWhere((text) => /\r\nhget\r\n/i.test(text) && text.includes('warden:registry'))
    toB.restore()
    // b's bus is back (its subscriptions are in Redis again): a command dashboard may still read reaches it
    await until(async () => await patterns() === subscribed, "b's bus subscribed again")
    await new Promise<void>((resolve, reject) => {
      admin.client.publish('devices/dashboard/cmd/ping', 'live', { qos: 1 }, (err) => { if (err == null) resolve(); else reject(err) })
    })
    await sub.waitFor((m) => m.payload === 'live')
    toB.release()
    // the queue entry leaves once b has judged it (dropped as not readable, or sent and acknowledged)
    await until(async () => await db.llen('outgoing:gap-revoked') === 0, 'the queue judged')
    expect(count(sub, 'after-revoke')).toBe(0)
  })

  it('at QoS 2, a live copy that comes after the replay sent the message is not sent again to the session reconnected meanwhile', async () => {
    const [toA, toB] = await Promise.all([relay(), relay()])
    const [a, b] = await Promise.all([node('a', toA.url), node('b', toB.url)])
    const first = await scope.client('dashboard', { clientId: 'gap-reconnect', clean: false }, b)
    await subscribe(first, 'sensors/#', 2)
    await until(async () => await knows(a, 'gap-reconnect'), "a having b's subscriber's subscription")
    const pub = await scope.client('sensor-1', {}, a)
    const db = new Redis(redis.url)
    scope.defer(() => db.disconnect())

    // a queues the message, and its PUBLISH on the bus waits in the relay
    toA.holdPublishes('late')
    const late = publish(pub, 'late', 2)
    await until(async () => await db.llen('outgoing:gap-reconnect') === 1, 'the message queued')
    // b's bus is subscribed again meanwhile: the queue is read and the message sent from it, and completed
    await toB.cut()
    toB.restore()
    await first.waitFor((m) => m.payload === 'late')
    await until(async () => await db.llen('outgoing:gap-reconnect') === 0, 'the replayed copy completed')
    // the device reconnects to its session (a network blip), on the same worker
    await first.end()
    const second = await scope.client('dashboard', { clientId: 'gap-reconnect', clean: false }, b)
    // then a's PUBLISH reaches Redis, and b gets the live copy
    toA.release()
    await late
    // a's bus publishes reach b in order: once this one is here, the live copy has been and gone
    await publish(pub, 'after', 2)
    await second.waitFor((m) => m.payload === 'after')

    expect(count(first, 'late') + count(second, 'late')).toBe(1)
  })

  it('reads from Redis only what a session was not sent: the messages in flight on every connected session are not read again', async () => {
    const toB = await relay()
    const [a, b] = await Promise.all([node('a', redis.url), node('b', toB.url)])
    // sessions of one account that take every message and acknowledge none: all of it stays in flight
    const sessions: RawClient[] = []
    for (let i = 0; i < 6; i++) {
      const raw = scope.track(await rawSession(b.port, 'dashboard', `gap-hoard-${i}`, { clean: false }))
      raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos: 1 }] } as Packet)
      await raw.next('suback')
      await until(async () => await knows(a, `gap-hoard-${i}`), `a having gap-hoard-${i}'s subscription`)
      sessions.push(raw)
    }
    const pub = await scope.client('sensor-1', {}, a)
    const big = 'x'.repeat(64 * 1024)
    const stored = 40 * big.length
    for (let n = 0; n < 40; n++) await publish(pub, `${n}:${big}`, 1)
    for (const raw of sessions) await packetWhere(raw, (p) => p.cmd === 'publish' && p.payload.toString().startsWith('39:'))

    // b's Redis blips; a message published meanwhile is the last of every queue: once each session has it from
    // the replay, the replay has read its whole queue
    await toB.cut()
    await publish(pub, 'marker', 1)
    const before = toB.bytesFromRedis
    toB.restore()
    for (const raw of sessions) await packetWhere(raw, (p) => p.cmd === 'publish' && p.payload.toString() === 'marker')
    const read = toB.bytesFromRedis - before
    // main read each session's 40 messages in flight again (6 × 2.5 MiB, 15 MiB) to drop them; what is not in
    // flight is one small message per session
    expect(read).toBeLessThan(stored / 4)
  })

  it('at QoS 2, a session still being sent its stored queue when the bus comes back is sent each message once', async () => {
    const toB = await relay()
    const [a, b] = await Promise.all([node('a', redis.url), node('b', toB.url)])
    const first = scope.track(await rawSession(b.port, 'dashboard', 'gap-resume', { clean: false }))
    first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos: 2 }] } as Packet)
    await first.next('suback')
    await until(async () => await knows(a, 'gap-resume'), "a having b's subscriber's subscription")
    first.destroy()
    // what the session is sent on its return: more than the socket takes while its reader does not read
    const pub = await scope.client('sensor-1', {}, a)
    const N = 40
    const big = 'x'.repeat(256 * 1024)
    for (let n = 0; n < N; n++) await publish(pub, `${n}:${big}`, 2)
    const db = new Redis(redis.url)
    scope.defer(() => db.disconnect())
    await until(async () => await db.llen('outgoing:gap-resume') === N, 'the messages queued')

    // another client on b reads the same filter: b's bus has that subscription, so the session's return needs no
    // new one and is answered while the bus is still away
    const other = await scope.client('dashboard', {}, b)
    await subscribe(other, 'sensors/#', 0)
    // b's Redis blips, and its bus subscribes again only once the session is back and being sent its queue
    await toB.cut()
    toB.holdWhere((text) => /\r\npsubscribe\r\n/i.test(text))
    toB.restore()
    const raw = scope.track(await rawClient(b.port))
    raw.send({
      cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: false, clientId: 'gap-resume', keepalive: 60,
      username: 'dashboard', password: Buffer.from(PASSWORD)
    } as Packet)
    await raw.next('connack')
    raw.socket.pause()
    type Conn = { conn: { writableLength: number } }
    const session = (): Conn | undefined => (b.broker.aedes as unknown as { clients: Record<string, Conn> }).clients['gap-resume']
    await until(() => (session()?.conn.writableLength ?? 0) > 0, "the session's queue waiting on its socket")
    toB.release()
    raw.socket.resume()

    // each message once, completed (QoS 2): a message sent under two packet ids is two messages
    const ids = new Map<number, Set<number>>()
    let seen = 0
    const take = (): void => {
      for (; seen < raw.packets.length; seen++) {
        const p = raw.packets[seen] as Packet & { messageId?: number, payload?: Buffer }
        if (p.cmd === 'publish') {
          const n = Number((p.payload ?? Buffer.alloc(0)).subarray(0, 8).toString().split(':')[0])
          const got = ids.get(n) ?? new Set<number>()
          ids.set(n, got.add(p.messageId ?? 0))
          raw.send({ cmd: 'pubrec', messageId: p.messageId } as Packet)
        } else if (p.cmd === 'pubrel') {
          raw.send({ cmd: 'pubcomp', messageId: p.messageId } as Packet)
        }
      }
    }
    await until(async () => { take(); return ids.size === N && await db.llen('outgoing:gap-resume') === 0 }, 'every message, completed', 30_000)
    // a message published now comes after whatever the replay had to send
    await publish(pub, 'after', 2)
    await until(() => { take(); return raw.packets.some((p) => p.cmd === 'publish' && p.payload.toString() === 'after') }, 'the message after')
    take()
    expect([...ids.values()].filter((s) => s.size > 1).length).toBe(0)
  }, 60_000)

  it('a retained message the bus missed is sent from the queue as any other: RETAIN 0, once, and it leaves the queue', async () => {
    const toB = await relay()
    const [a, b] = await Promise.all([node('a', redis.url), node('b', toB.url)])
    const sub = await scope.client('dashboard', { clientId: 'gap-retained', clean: false }, b)
    await subscribe(sub, 'sensors/#', 2)
    await until(async () => await knows(a, 'gap-retained'), "a having b's subscriber's subscription")
    const pub = await scope.client('sensor-1', {}, a)
    const db = new Redis(redis.url)
    scope.defer(() => db.disconnect())
    const retained: boolean[] = []
    sub.client.on('message', (_t, payload, packet) => { if (payload.toString() === 'kept') retained.push(packet.retain) })

    await toB.cut()
    await new Promise<void>((resolve, reject) => {
      pub.client.publish('sensors/sensor-1/load', 'kept', { qos: 2, retain: true }, (err) => { if (err == null) resolve(); else reject(err) })
    })
    toB.restore()
    await sub.waitFor((m) => m.payload === 'kept')
    // acknowledged (PUBREC, PUBCOMP): the entry leaves the queue
    await until(async () => await db.llen('outgoing:gap-retained') === 0, 'the queue emptied by the acknowledgement')
    // and a return to the session does not bring it again
    await sub.end()
    const back = await scope.client('dashboard', { clientId: 'gap-retained', clean: false }, b)
    await publish(pub, 'after', 2)
    await back.waitFor((m) => m.payload === 'after')
    expect(retained).toEqual([false])
    expect(count(back, 'kept')).toBe(0)
  })
})
