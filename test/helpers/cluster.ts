// Broker processes of one cluster: each a child running dist/main.js on an ephemeral port, on one Redis.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll } from 'vitest'
import { stringify } from 'yaml'
import { baseConfig } from './broker.js'
import { startApp, type AppProcess } from './process.js'
import { startRedis, type TestRedis } from './redis.js'

/** `http`: the control plane's base URL (API) */
export interface BrokerNode { app: AppProcess, url: string, port: number, http: string }

export interface Cluster {
  /** starts one more broker process and resolves once it listens; `env` adds to its environment */
  startNode (env?: Record<string, string>): Promise<BrokerNode>
  /** SIGKILLs every broker process started so far */
  stopNodes (): Promise<void>
  /** also removes the config dir */
  close (): Promise<void>
}

/** `config`: top-level keys over the base config (e.g. a short `limits.heartbeatIntervalMs`) */
export async function createCluster (redis: TestRedis, name = 'warden-cluster-', config: Record<string, unknown> = {}): Promise<Cluster> {
  const dir = await mkdtemp(join(tmpdir(), name))
  const configFile = join(dir, 'warden.yaml')
  await writeFile(configFile, stringify({ ...(await baseConfig()), persistence: 'redis', log: { level: 'info' }, ...config }))
  const nodes: AppProcess[] = []
  const stopNodes = async (): Promise<void> => { await Promise.all(nodes.splice(0).map((b) => b.stop('SIGKILL'))) }
  return {
    async startNode (env = {}) {
      const app = startApp('broker', {
        WARDEN_CONFIG: configFile, WARDEN_MQTT_PORT: '0', WARDEN_HTTP_PORT: '0', WARDEN_LOG_LEVEL: 'info', WARDEN_REDIS_URL: redis.url, ...env
      })
      nodes.push(app)
      await app.ready()
      const line = await app.waitForLog((l) => l.msg === 'broker listening')
      const port = Number(String(line.mqtt).split(':').pop())
      const http = await app.waitForLog((l) => l.msg === 'control plane listening')
      return { app, url: `mqtt://127.0.0.1:${port}`, port, http: `http://${String(http.http)}` }
    },
    stopNodes,
    async close () {
      await stopNodes()
      await rm(dir, { recursive: true, force: true })
    }
  }
}

/**
 * A private Redis and a cluster on it for one test file: the broker processes a test starts are killed and
 * Redis emptied after it. Register the file's own afterEach hooks after this call: they run before it.
 */
export function useCluster (
  name?: string, config?: Record<string, unknown>
): { startNode (env?: Record<string, string>): Promise<BrokerNode>, readonly redisUrl: string } {
  let redis: TestRedis | undefined
  let cluster: Cluster | undefined
  beforeAll(async () => {
    redis = await startRedis()
    cluster = await createCluster(redis, name, config)
  })
  afterEach(async () => {
    await cluster?.stopNodes()
    await redis?.flush()
  })
  afterAll(async () => {
    await cluster?.close()
    await redis?.stop()
  })
  return {
    startNode (env) {
      if (cluster === undefined) throw new Error('useCluster: no cluster (its beforeAll failed)')
      return cluster.startNode(env)
    },
    get redisUrl () {
      if (redis === undefined) throw new Error('useCluster: no Redis (its beforeAll failed)')
      return redis.url
    }
  }
}
