// What one QoS 2 message to a persistent subscriber costs the Redis store, end to end through the broker: a
// publisher's PUBLISH/PUBREC/PUBREL/PUBCOMP and a persistent subscriber's, one step at a time, counted in the
// queue store's script calls (apps/broker/src/store/redis-batch.ts), the other commands the broker sends Redis,
// and the commands the scripts run (MONITOR). Each call the message waits on is a round trip to Redis; see
// delivery/qos2-guard.ts and store/redis-queues.ts for what must be in Redis before which packet goes out, and
// hardening-crash.test.ts, store-redis-qos2-mark.test.ts and store-held-commit.test.ts for the SIGKILLs that
// check it. The level store's figures are in store-qos2-path.test.ts.
import { createHash } from 'node:crypto'
import { Redis } from 'ioredis'
import type { Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { rawSession } from '../helpers/raw-mqtt.js'
import { useSharedRedis } from '../helpers/redis.js'
import { oneQos2Message, take } from '../helpers/qos2-steps.js'
import { useScope } from '../helpers/scope.js'
import { BUS_SCRIPT } from '../../apps/broker/src/store/redis-bus-batch.js'

const redis = useSharedRedis()
const scope = useScope()
const TOPIC = 'sensors/sensor-1/qos2'

/** the cluster bus's script (its PUBLISHes: redis-bus-batch.ts), as ioredis calls it */
const BUS_SHA = createHash('sha1').update(BUS_SCRIPT).digest('hex')
/** what the broker sends Redis whatever the traffic (health checks, heartbeats) */
const IDLE = new Set(['ping', 'info', 'pubsub', 'publish'])

/** the commands Redis was sent (top level, the bus's and the idle ones left out) and those the store's scripts ran */
interface Seen { top: Map<string, number>, inScripts: Map<string, number> }

/** what MONITOR shows until `stop()`, which resolves once it has shown every command Redis ran before the call */
async function watch (): Promise<Seen & { stop: () => Promise<void> }> {
  const r = new Redis(redis.url)
  const monitor = await r.monitor()
  const seen: Seen = { top: new Map(), inScripts: new Map() }
  const count = (m: Map<string, number>, name: string): void => { m.set(name, (m.get(name) ?? 0) + 1) }
  const SENTINEL = 'warden-test-sentinel'
  let sentinelSeen: () => void = () => {}
  const sentinel = new Promise<void>((resolve) => { sentinelSeen = resolve })
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    const name = String(args[0]).toLowerCase()
    // the cluster bus's PUBLISHes (redis-bus-batch.ts) are the bus's, not the store's
    if (source === 'lua') {
      if (name !== 'publish') count(seen.inScripts, name)
    } else if (name === 'echo' && args[1] === SENTINEL) {
      sentinelSeen()
    } else if (!IDLE.has(name) && !(name === 'evalsha' && args[1] === BUS_SHA)) {
      count(seen.top, name)
    }
  })
  const close = (): void => { monitor.disconnect(); r.disconnect() }
  scope.defer(close)
  // MONITOR's stream comes on its own connection, later than replies on others may: it shows commands in the order
  // Redis ran them, so once it shows one sent now it has shown all that ran before
  const stop = async (): Promise<void> => {
    const other = new Redis(redis.url)
    try {
      await other.echo(SENTINEL)
      await sentinel
    } finally { other.disconnect() }
    close()
  }
  return { ...seen, stop }
}

const perMessage = (m: Map<string, number>, n: number): Record<string, number> =>
  Object.fromEntries([...m].filter(([, v]) => v > 0).sort(([a], [b]) => a < b ? -1 : 1).map(([k, v]) => [k, v / n]))

describe('a QoS 2 message to a connected persistent subscriber on the Redis store', () => {
  // G (aedes asks whether the PUBLISH is a retransmission: a read in the call of its turn, not an HGET of its
  // own), H owner + H packet (one call), E + the QoS 2 guard's mark, P (the PUBREL), A (PUBCOMP, not awaited),
  // X × 4 (the publisher's PUBREL: its packet and the guard's records, with no read before: an HGET of its own).
  // The subscriber's PUBLISH is sent with no call of its own (S: LINSERT, LREM, SET): its id was in its queue
  // entry. It was 7 calls and 11 operations, and 2 HGETs.
  // A publisher whose session started clean and ends with its connection: its packet is kept in the process
  // (MarkRecords.keepIncoming), so no G, H, mark or X: E, P, A.
  it.each([
    {
      publisher: 'persistent',
      clean: false,
      calls: { batches: 6, ops: 11 },
      evalsha: 6,
      inScripts: { decrby: 1, del: 2, exists: 1, hdel: 4, hget: 1, hset: 3, incrby: 1, lrem: 3, rpush: 2, set: 3 }
    },
    {
      publisher: 'clean-session',
      clean: true,
      calls: { batches: 3, ops: 3 },
      evalsha: 3,
      inScripts: { decrby: 1, del: 2, exists: 1, incrby: 1, lrem: 3, rpush: 2, set: 3 }
    }
  ])('from a $publisher publisher: queued with its packet id, nothing written when it is sent, the commands of each step counted',
    async ({ clean, calls: cost, evalsha, inScripts: scripts }) => {
      const tb = await scope.start({ config: { persistence: 'redis', redis: { url: redis.url } } })
      const reader = scope.track(await rawSession(tb.port, 'dashboard', 'reader', { clean: false }))
      reader.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos: 2 }] } as Packet)
      await take(reader, 'suback')
      const device = scope.track(await rawSession(tb.port, 'sensor-1', 'device-1', { clean }))
      // the first message settles what is done once (the queue's hash of ids looked up, ...)
      await oneQos2Message(device, reader, TOPIC, 0)
      const seen = await watch()
      const commits = (): { batches: number, ops: number } => {
        const c = tb.broker.commits
        if (c === undefined) throw new Error('no script calls counted')
        return { batches: c.batches, ops: c.ops }
      }
      const N = 20
      const before = commits()
      for (let n = 1; n <= N; n++) await oneQos2Message(device, reader, TOPIC, n)
      const after = commits()
      await seen.stop()
      const calls = { batches: (after.batches - before.batches) / N, ops: (after.ops - before.ops) / N }
      const top = perMessage(seen.top, N)
      const inScripts = perMessage(seen.inScripts, N)
      console.log('QoS 2 per message on Redis', calls, top, inScripts)
      expect(calls).toEqual(cost)
      expect(top).toEqual({ evalsha })
      expect(inScripts).toEqual(scripts)
    })
})
