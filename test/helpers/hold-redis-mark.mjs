// Test-only fault injection, preloaded into a broker process (NODE_OPTIONS=--import): on `persistence: redis`,
// the QoS 2 guard's mark of a message (apps/broker/src/delivery/qos2-guard.ts) never reaches Redis, so that a
// SIGKILL lands where a crash can: after the message's queue entries were written, before its mark. Held:
// an HSET of a mark record (aedes-persistence-redis's incoming hash of the guard's pseudo client), or a batch
// script call (redis-batch.ts) that carries one. It prints one JSON log line when it holds one.
import { createRequire } from 'node:module'

const require = createRequire(new URL('../../apps/broker/package.json', import.meta.url))
const { Redis } = require('ioredis')
// encodeURIComponent('\u0000warden-qos2:'): the mark's pseudo client ids (not the owner records': '-owner:')
const MARK = 'incoming:%00warden-qos2%3A'
const held = (what) => {
  process.stdout.write(JSON.stringify({ msg: 'test: QoS 2 mark held', what }) + '\n')
  return new Promise(() => {})
}

const hset = Redis.prototype.hset
Redis.prototype.hset = function heldHset (key, ...rest) {
  if (String(key).startsWith(MARK)) return held('hset')
  return hset.call(this, key, ...rest)
}

const define = Redis.prototype.defineCommand
Redis.prototype.defineCommand = function heldDefine (name, definition) {
  define.call(this, name, definition)
  if (name !== 'wardenQueueBatch') return
  // the store calls the form answering Buffers (the fields it reads are msgpack)
  for (const form of [name, `${name}Buffer`]) holdCalls(this, form)
}

function holdCalls (conn, form) {
  const run = conn[form]
  conn[form] = function heldBatch (numKeys, ops, ...rest) {
    if (Buffer.isBuffer(ops) && ops.includes(MARK)) return held('batch')
    return run.call(this, numKeys, ops, ...rest)
  }
}
