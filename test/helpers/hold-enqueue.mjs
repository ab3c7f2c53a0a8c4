// Test-only fault injection, preloaded into a broker process (NODE_OPTIONS=--import): the store never
// finishes queueing a QoS 2 message on WARDEN_TEST_HOLD_TOPIC, so that a SIGKILL lands exactly where a crash
// can: after aedes stored the incoming packet, before it was published (see qos2-guard.ts). It prints one
// JSON log line when it holds one, for the test to wait on.
// Warden's level store no longer has that window: it writes the incoming packet and its owner in the batch
// that queues the message (level-queues.ts, stage()). A store an earlier version left behind still can: so
// on that store the held enqueue first writes what is staged, as that version had written it before publishing
// (for a publisher whose session outlives its connection: a clean session's packet is never written now).
import { createRequire } from 'node:module'

const require = createRequire(new URL('../../apps/broker/package.json', import.meta.url))
const topic = process.env.WARDEN_TEST_HOLD_TOPIC

// the durable stores: Warden's on LevelDB and on Redis (the modules the broker loads), aedes-persistence-level
// and -redis
const { LevelQueueStore } = await import(new URL('../../apps/broker/dist/store/level-queues.js', import.meta.url).href)
const { RedisQueueStore } = await import(new URL('../../apps/broker/dist/store/redis-queues.js', import.meta.url).href)
const others = ['aedes-persistence-level/asyncPersistence.js', 'aedes-persistence-redis/asyncPersistence.js']
const protos = [LevelQueueStore.prototype, RedisQueueStore.prototype, ...others.map((s) => require(s).prototype)]
for (const proto of protos) {
  const enqueue = proto.outgoingEnqueueCombi
  proto.outgoingEnqueueCombi = function heldEnqueue (subs, packet) {
    if (packet.qos === 2 && packet.topic === topic) {
      const written = typeof this.flush === 'function' ? this.flush(packet, { queued: false }) : Promise.resolve()
      return written.then(() => {
        process.stdout.write(JSON.stringify({ msg: 'test: QoS 2 publish held before enqueue', topic }) + '\n')
        return new Promise(() => {})
      })
    }
    return enqueue.call(this, subs, packet)
  }
}
