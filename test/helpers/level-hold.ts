// Holds chosen LevelDB write batches of a broker running in this process (scope.start): a slow disk at one
// write, for as long as the test says. Group commit writes one batch at a time (apps/broker/src/store/
// group-commit.ts), so every store write made after a held batch waits for it too, as it would behind a slow
// write. The in-process counterpart of hold-keys.mjs, for tests that go on talking to the broker meanwhile.
import { createRequire } from 'node:module'
import type { Scope } from './scope.js'

// the LevelDB binding the broker's store uses (a dependency of apps/broker, as in hold-keys.mjs)
const require = createRequire(new URL('../../apps/broker/package.json', import.meta.url))
const { ClassicLevel } = require('classic-level') as { ClassicLevel: { prototype: object } }

export interface BatchHold {
  /** resolves when a batch matching the rule is held */
  readonly held: Promise<void>
  /** writes the held batch (and lets later matching batches through) */
  release (): void
}

type Match = (key: string, value: Buffer) => boolean

interface Rule { readonly match: Match, hit: boolean, readonly onHeld: () => void, readonly released: Promise<void>, readonly release: () => void }

interface Chained { put: (key: unknown, value: unknown, ...rest: unknown[]) => unknown, write: (...rest: unknown[]) => Promise<void> }
type BatchFn = (this: unknown, ...args: unknown[]) => unknown

/** holds the first batch whose puts satisfy each rule made by `hold`; undone after the test */
export function holdLevelBatches (scope: Scope): { hold: (match: Match) => BatchHold } {
  const rules: Rule[] = []
  const proto = ClassicLevel.prototype as { batch: BatchFn }
  const original = proto.batch
  proto.batch = function heldBatch (this: unknown, ...args: unknown[]): unknown {
    if (args.length > 0) return original.apply(this, args) // an array batch: the store writes chained ones
    const chained = original.call(this) as Chained
    let rule: Rule | undefined
    const put = chained.put
    chained.put = function (key, value, ...rest) {
      if (rule === undefined && Buffer.isBuffer(value)) rule = rules.find((r) => !r.hit && r.match(String(key), value))
      if (rule !== undefined) rule.hit = true
      return put.call(this, key, value, ...rest)
    }
    const write = chained.write
    chained.write = async function (...rest) {
      if (rule !== undefined) {
        rule.onHeld()
        await rule.released
      }
      await write.apply(this, rest)
    }
    return chained
  }
  // a test that failed half-way must not leave a batch held: the broker could not close
  scope.defer(() => {
    proto.batch = original
    for (const r of rules) r.release()
  })
  return {
    hold (match) {
      let onHeld!: () => void
      let release!: () => void
      const held = new Promise<void>((resolve) => { onHeld = resolve })
      const released = new Promise<void>((resolve) => { release = resolve })
      rules.push({ match, hit: false, onHeld, released, release })
      return { held, release }
    }
  }
}
