// A config for broker processes started by a test (test/helpers/broker-process.ts), on the store it names, made
// afresh for each test of the file (or of the describe block it is called in) and removed after it; with
// `persistence: redis`, a private Redis, stopped after the test.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeEach } from 'vitest'
import { stringify } from 'yaml'
import { baseConfig } from './broker.js'
import { startRedis, type TestRedis } from './redis.js'
import type { Scope } from './scope.js'

export interface BrokerEnv {
  /** the running test's Redis (`persistence: redis` only) */
  readonly redis: TestRedis
  /** the environment of a broker process: the config, a data dir and, on Redis, its URL */
  env (): Record<string, string>
}

export function useBrokerEnv (scope: Scope, prefix: string, persistence: 'level' | 'redis'): BrokerEnv {
  let dir: string | undefined
  let redis: TestRedis | undefined
  beforeEach(async () => {
    const d = dir = await mkdtemp(join(tmpdir(), prefix))
    scope.defer(() => rm(d, { recursive: true, force: true }))
    if (persistence === 'redis') {
      const r = redis = await startRedis()
      scope.defer(() => r.stop())
    }
    await writeFile(join(d, 'warden.yaml'), stringify({ ...(await baseConfig()), persistence }))
  })
  const started = (): string => {
    if (dir === undefined) throw new Error('useBrokerEnv: not started (its beforeEach failed)')
    return dir
  }
  return {
    get redis () {
      if (redis === undefined) throw new Error(`useBrokerEnv: no Redis (persistence: ${persistence})`)
      return redis
    },
    env () {
      const d = started()
      return { WARDEN_CONFIG: join(d, 'warden.yaml'), WARDEN_DATA_DIR: join(d, 'data'), ...(redis !== undefined ? { WARDEN_REDIS_URL: redis.url } : {}) }
    }
  }
}
