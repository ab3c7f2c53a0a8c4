// Test-only fault injection, preloaded into a broker process (NODE_OPTIONS=--import): the consumer-group claim of
// a batch this process was handed (apps/broker/src/groups/handover-claim.ts, the script that also publishes the
// answer) is never sent once WARDEN_TEST_HOLD_CLAIM is set, so that a SIGKILL lands exactly between storing a
// batch's copies in its members' sessions and claiming it. It prints one JSON log line when it holds one.
import { createRequire } from 'node:module'

const require = createRequire(new URL('../../apps/broker/package.json', import.meta.url))
const { Redis } = require('ioredis')

const evaluate = Redis.prototype.eval
Redis.prototype.eval = function heldEval (script, numKeys, key, ...args) {
  // the receiver's claim: the one that publishes its answer
  if (process.env.WARDEN_TEST_HOLD_CLAIM !== undefined && typeof key === 'string' && key.startsWith('warden:share:claim:') &&
      args.some((a) => typeof a === 'string' && a.startsWith('$WARDEN/share/taken/'))) {
    process.stdout.write(JSON.stringify({ msg: 'test: claim held', key }) + '\n')
    return new Promise(() => {})
  }
  return evaluate.call(this, script, numKeys, key, ...args)
}
