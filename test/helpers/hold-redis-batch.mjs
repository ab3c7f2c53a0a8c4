// Test-only fault injection, preloaded into a broker process (NODE_OPTIONS=--import): the Redis queue store's
// batch script (apps/broker/src/store/redis-batch.ts) is never sent when its batch holds a message on
// WARDEN_TEST_HOLD_TOPIC, so that a SIGKILL lands exactly where a crash can: the message is in the broker's
// memory and in a batch under way, not in Redis. It prints one JSON log line when it holds one.
import { createRequire } from 'node:module'

const require = createRequire(new URL('../../apps/broker/package.json', import.meta.url))
const topic = Buffer.from(process.env.WARDEN_TEST_HOLD_TOPIC ?? '')
const { Redis } = require('ioredis')

const define = Redis.prototype.defineCommand
Redis.prototype.defineCommand = function heldDefine (name, definition) {
  define.call(this, name, definition)
  if (name !== 'wardenQueueBatch' || topic.length === 0) return
  // the store calls the form answering Buffers (the fields it reads are msgpack)
  for (const form of [name, `${name}Buffer`]) holdCalls(this, form)
}

function holdCalls (conn, form) {
  const run = conn[form]
  conn[form] = function heldBatch (numKeys, ops, ...rest) {
    if (Buffer.isBuffer(ops) && ops.includes(topic)) {
      process.stdout.write(JSON.stringify({ msg: 'test: store batch held', topic: topic.toString() }) + '\n')
      return new Promise(() => {})
    }
    return run.call(this, numKeys, ops, ...rest)
  }
}
