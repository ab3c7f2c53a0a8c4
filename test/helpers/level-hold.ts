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

interface Op { readonly type: string, readonly key: unknown, readonly value?: unknown }
type BatchFn = (this: unknown, ops: Op[], ...rest: unknown[]) => Promise<void>

/** holds the first batch whose puts satisfy each rule made by `hold`; undone after the test */
export function holdLevelBatches (scope: Scope): { hold: (match: Match) => BatchHold } {
  const rules: Rule[] = []
  // every batch the store writes ends in classic-level's _batch (apps/broker/src/store/level-write.ts)
  const proto = ClassicLevel.prototype as { _batch: BatchFn }
  const original = proto._batch
  proto._batch = async function heldBatch (this: unknown, ops: Op[], ...rest: unknown[]): Promise<void> {
    const rule = rules.find((r) => !r.hit && ops.some((op) => op.type === 'put' && Buffer.isBuffer(op.value) && r.match(String(op.key), op.value)))
    if (rule !== undefined) {
      rule.hit = true
      rule.onHeld()
      await rule.released
    }
    await original.call(this, ops, ...rest)
  }
  // a test that failed half-way must not leave a batch held: the broker could not close
  scope.defer(() => {
    proto._batch = original
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
