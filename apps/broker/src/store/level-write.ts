// How group commit's batches reach LevelDB: through classic-level's own array batch (`_batch`, what its public
// `batch()` ends in), which hands the operations to LevelDB as they are. The public batch, chained or array,
// first checks, copies and re-encodes every operation (abstract-level): in a profile of QoS 2 to persistent
// subscribers that per-operation work took more of the broker than classic-level's own writing, and a QoS 2
// message makes seven operations. The store's keys are strings and its values Buffers, which classic-level's
// binding takes unencoded (as the public batch would pass them, with the `utf8` and `buffer` encodings).
// This is the one place Warden calls a private method of classic-level: it is checked when the store opens
// (the broker refuses to start without it), and test/unit/store-level-write.test.ts fails if an upgrade
// renames it or changes what it writes.
import type { Level } from 'level'
import { WardenError } from '@warden/common'
import type { BatchOps } from './group-commit.js'

interface Op { readonly type: 'put' | 'del', readonly key: string, readonly value?: Buffer }
type PrivateBatch = (this: unknown, ops: Op[], options: object) => Promise<void>

const NO_OPTIONS = Object.freeze({})

/** writes one batch of `ops` to `db`, whole or not at all; throws at once if `db` has no private array batch */
export function createLevelWriter (db: Level<string, unknown>): (ops: BatchOps) => Promise<void> {
  const target = db as unknown as { _batch?: unknown }
  if (typeof target._batch !== 'function') {
    throw new WardenError('WARDEN_ERR_PERSISTENCE',
      'classic-level has no _batch(operations, options): the installed version is not the one Warden was built for')
  }
  const own = target as { _batch: PrivateBatch }
  return async (ops) => {
    // what the public batch checks first: a closed database refuses the write
    if (db.status !== 'open') throw new WardenError('WARDEN_ERR_PERSISTENCE', `the store's database is ${db.status}`)
    const list: Op[] = []
    for (const [key, value] of ops) list.push(value === null ? { type: 'del', key } : { type: 'put', key, value })
    // looked up at each write, as the public batch does (fault-injecting tests replace it on the prototype)
    await own._batch(list, NO_OPTIONS)
  }
}
