// Test-only fault injection, preloaded into a broker process (NODE_OPTIONS=--import): LevelDB never finishes
// a write batch that puts or deletes a key matching WARDEN_TEST_HOLD_KEY (a regular expression), after letting
// WARDEN_TEST_HOLD_SKIP such batches through (default 0). Group commit writes one batch at a time, so nothing
// written after it reaches the disk either: a SIGKILL then lands where a crash can, with that write in the
// broker's memory only. It prints one JSON log line when it holds one, for the test to wait on.
import { createRequire } from 'node:module'

const require = createRequire(new URL('../../apps/broker/package.json', import.meta.url))
const match = new RegExp(process.env.WARDEN_TEST_HOLD_KEY ?? '(?!)')
let skip = Number(process.env.WARDEN_TEST_HOLD_SKIP ?? 0)
const { ClassicLevel } = require('classic-level')

const held = (key) => {
  process.stdout.write(JSON.stringify({ msg: 'test: store batch held', key }) + '\n')
  return new Promise(() => {})
}

// every batch the store writes, and the public array batches, end in classic-level's _batch (store/level-write.ts)
const batch = ClassicLevel.prototype._batch
if (typeof batch !== 'function') throw new Error('hold-keys.mjs: classic-level has no _batch')
ClassicLevel.prototype._batch = function heldBatch (ops, ...rest) {
  const hit = ops.find((op) => match.test(String(op.key)))
  if (hit !== undefined && skip-- <= 0) return held(String(hit.key))
  return batch.call(this, ops, ...rest)
}
