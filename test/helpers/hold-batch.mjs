// Test-only fault injection, preloaded into a broker process (NODE_OPTIONS=--import): LevelDB never
// finishes a write batch that queues a message on WARDEN_TEST_HOLD_TOPIC, so that a SIGKILL lands exactly
// where a crash can: the message is in the broker's memory and in a batch under way, not on disk (see
// apps/broker/src/store/group-commit.ts). It prints one JSON log line when it holds one, for the test to wait on.
import { createRequire } from 'node:module'

const require = createRequire(new URL('../../apps/broker/package.json', import.meta.url))
const topic = Buffer.from(process.env.WARDEN_TEST_HOLD_TOPIC ?? '')
const { ClassicLevel } = require('classic-level')

const batch = ClassicLevel.prototype.batch
ClassicLevel.prototype.batch = function heldBatch (ops, ...rest) {
  const queues = Array.isArray(ops) && ops.some((op) => op.type === 'put' && String(op.key).startsWith('outgoing:') &&
    Buffer.isBuffer(op.value) && op.value.includes(topic))
  if (queues && topic.length > 0) {
    process.stdout.write(JSON.stringify({ msg: 'test: store batch held', topic: topic.toString() }) + '\n')
    return new Promise(() => {})
  }
  return batch.call(this, ops, ...rest)
}
