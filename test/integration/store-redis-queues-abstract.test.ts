// aedes-persistence 11's abstract suite (the one every aedes store is written against, from the installed
// package) run against Warden's Redis store (apps/broker/src/store/redis-queues.ts) on a real redis-server,
// emptied before each test: the async store itself, and in aedes-persistence's callback layer as the broker
// runs it.
import assert from 'node:assert'
import { createRequire } from 'node:module'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, it } from 'vitest'
import { CallBackPersistence } from 'aedes-persistence/callBackPersistence.js'
import { RedisQueueStore } from '../../apps/broker/src/store/redis-queues.js'
import { startRedis, type TestRedis } from '../helpers/redis.js'

type TestFn = (t: object) => Promise<void>
const require = createRequire(import.meta.url)
const abstract = require('aedes-persistence/abstract.js') as (opts: {
  test: (name: string, fn: TestFn) => void
  persistence: () => Promise<unknown>
  testAsync: boolean
  waitForReady?: boolean
}) => void

let redis: TestRedis
beforeAll(async () => { redis = await startRedis() })
afterAll(async () => { await redis.stop() })

// node:test's context as the suite uses it: plan and diagnostic are bookkeeping, assert is node:assert
const context = { plan () {}, diagnostic () {}, assert }

/** a store on an empty Redis; its connection is closed by the suite's destroy() */
async function freshStore (): Promise<RedisQueueStore> {
  await redis.flush()
  return new RedisQueueStore({ conn: new Redis(redis.url, { enableAutoPipelining: true }) })
}

const test = (name: string, fn: TestFn): void => { it(name, async () => { await fn(context) }) }

describe('aedes-persistence abstract suite on RedisQueueStore', () => {
  abstract({ test, persistence: freshStore, testAsync: true })
})

describe('aedes-persistence abstract suite on RedisQueueStore in the callback layer (as the broker runs it)', () => {
  abstract({ test, persistence: async () => { const s = await freshStore(); return new CallBackPersistence(() => s) }, testAsync: false, waitForReady: true })
})
