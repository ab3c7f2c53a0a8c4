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

const batch = ClassicLevel.prototype.batch
ClassicLevel.prototype.batch = function heldBatch (...args) {
  if (args.length > 0) return batch.apply(this, args)
  const chained = batch.call(this)
  let hit
  const note = (key) => { if (hit === undefined && match.test(String(key))) hit = String(key) }
  const put = chained.put
  chained.put = function (key, ...rest) { note(key); return put.call(this, key, ...rest) }
  const del = chained.del
  chained.del = function (key, ...rest) { note(key); return del.call(this, key, ...rest) }
  const write = chained.write
  chained.write = function (...rest) {
    if (hit !== undefined && skip-- <= 0) return held(hit)
    return write.apply(this, rest)
  }
  return chained
}
