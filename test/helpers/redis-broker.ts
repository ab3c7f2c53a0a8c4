// A private Redis and a config for broker processes on it (`persistence: redis`), made afresh for each test of a
// file and stopped and removed after it.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeEach } from 'vitest'
import { stringify } from 'yaml'
import { baseConfig } from './broker.js'
import { startRedis, type TestRedis } from './redis.js'
import type { Scope } from './scope.js'

export interface RedisBroker {
  /** the running test's Redis */
  readonly redis: TestRedis
  /** the environment of a broker process on it: the config, a data dir and the Redis URL */
  env (): Record<string, string>
}

export function useRedisBroker (scope: Scope, prefix: string): RedisBroker {
  let dir: string | undefined
  let redis: TestRedis | undefined
  beforeEach(async () => {
    const d = dir = await mkdtemp(join(tmpdir(), prefix))
    scope.defer(() => rm(d, { recursive: true, force: true }))
    const r = redis = await startRedis()
    scope.defer(() => r.stop())
    await writeFile(join(d, 'warden.yaml'), stringify({ ...(await baseConfig()), persistence: 'redis' }))
  })
  const started = (): { dir: string, redis: TestRedis } => {
    if (dir === undefined || redis === undefined) throw new Error('useRedisBroker: not started (its beforeEach failed)')
    return { dir, redis }
  }
  return {
    get redis () { return started().redis },
    env () {
      const s = started()
      return { WARDEN_CONFIG: join(s.dir, 'warden.yaml'), WARDEN_DATA_DIR: join(s.dir, 'data'), WARDEN_REDIS_URL: s.redis.url }
    }
  }
}
