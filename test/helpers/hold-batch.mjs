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

// every batch the store writes, and the public array batches, end in classic-level's _batch (store/level-write.ts)
const batch = ClassicLevel.prototype._batch
if (typeof batch !== 'function') throw new Error('hold-batch.mjs: classic-level has no _batch')
ClassicLevel.prototype._batch = function heldBatch (ops, ...rest) {
  if (topic.length > 0 && ops.some((op) => op.type === 'put' && queues(op.key, op.value))) return held()
  return batch.call(this, ops, ...rest)
}
