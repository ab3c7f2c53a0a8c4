// aedes-persistence 11's abstract suite (the one every aedes store is written against, from the installed
// package) run against Warden's level store (apps/broker/src/store/level-queues.ts), each test on a fresh
// LevelDB directory: the async store itself, and in aedes-persistence's callback layer as the broker runs it.
import assert from 'node:assert'
import { mkdtemp, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, it } from 'vitest'
import { Level } from 'level'
import { CallBackPersistence } from 'aedes-persistence/callBackPersistence.js'
import { LevelQueueStore } from '../../apps/broker/src/store/level-queues.js'

type TestFn = (t: object) => Promise<void>
const require = createRequire(import.meta.url)
const abstract = require('aedes-persistence/abstract.js') as (opts: {
  test: (name: string, fn: TestFn) => void
  persistence: () => Promise<unknown>
  testAsync: boolean
  waitForReady?: boolean
}) => void

const dirs: string[] = []
afterAll(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }) })

// node:test's context as the suite uses it: plan and diagnostic are bookkeeping, assert is node:assert
const context = { plan () {}, diagnostic () {}, assert }

async function freshStore (): Promise<LevelQueueStore> {
  const dir = await mkdtemp(join(tmpdir(), 'warden-abstract-'))
  dirs.push(dir)
  const db = new Level<string, unknown>(dir)
  await db.open()
  return new LevelQueueStore(db)
}

const test = (name: string, fn: TestFn): void => { it(name, async () => { await fn(context) }) }

describe('aedes-persistence abstract suite on LevelQueueStore', () => {
  abstract({ test, persistence: freshStore, testAsync: true })
})

describe('aedes-persistence abstract suite on LevelQueueStore in the callback layer (as the broker runs it)', () => {
  abstract({ test, persistence: async () => { const s = await freshStore(); return new CallBackPersistence(() => s) }, testAsync: false, waitForReady: true })
})
