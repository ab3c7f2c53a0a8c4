// Test-only fault injection, preloaded into a broker process (NODE_OPTIONS=--import): LevelDB never
// finishes a write batch that queues a message on WARDEN_TEST_HOLD_TOPIC, so that a SIGKILL lands exactly
// where a crash can: the message is in the broker's memory and in a batch under way, not on disk (see
// apps/broker/src/store/group-commit.ts). It prints one JSON log line when it holds one, for the test to wait on.
import { createRequire } from 'node:module'

const require = createRequire(new URL('../../apps/broker/package.json', import.meta.url))
const topic = Buffer.from(process.env.WARDEN_TEST_HOLD_TOPIC ?? '')
const { ClassicLevel } = require('classic-level')

const queues = (key, value) => String(key).startsWith('outgoing:') && Buffer.isBuffer(value) && value.includes(topic)
const held = () => {
  process.stdout.write(JSON.stringify({ msg: 'test: store batch held', topic: topic.toString() }) + '\n')
  return new Promise(() => {})
}

const batch = ClassicLevel.prototype.batch
ClassicLevel.prototype.batch = function heldBatch (...args) {
  if (topic.length === 0) return batch.apply(this, args)
  if (args.length > 0) {
    const ops = args[0]
    return Array.isArray(ops) && ops.some((op) => op.type === 'put' && queues(op.key, op.value)) ? held() : batch.apply(this, args)
  }
  // a chained batch: held at write() when one of its puts queues the message
  const chained = batch.call(this)
  let hold = false
  const put = chained.put
  chained.put = function (key, value, ...rest) {
    if (queues(key, value)) hold = true
    return put.call(this, key, value, ...rest)
  }
  const write = chained.write
  chained.write = function (...rest) { return hold ? held() : write.apply(this, rest) }
  return chained
}
