// Redis restarted under a cluster (SIGKILL, AOF, down for 4 s): every process's subscriptions come back one by one, and none is
// found dead meanwhile (groups/dead-watch.ts waits 5 s after its own reconnection), so no member leaves its group;
// a process killed afterwards is still found dead.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createCluster, type BrokerNode as Node, type Cluster } from '../helpers/cluster.js'
import { basic } from '../helpers/http.js'
import { subscribe } from '../helpers/mqtt.js'
import { startRedis, type TestRedis } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'

let redis: TestRedis
let cluster: Cluster
let aofDir: string
beforeAll(async () => {
  aofDir = await mkdtemp(join(tmpdir(), 'warden-aof-'))
  redis = await startRedis({ aof: aofDir })
  cluster = await createCluster(redis, 'warden-shared-restart-')
})
afterAll(async () => {
  await cluster?.close()
  await redis?.stop()
  await rm(aofDir, { recursive: true, force: true })
})
// registered before the scope's: runs after it
afterEach(async () => {
  await cluster.stopNodes()
  await redis.restart().catch(() => {})
  await redis.flush()
})
const scope = useScope()
const FILTER = '$share/g/sensors/#'
const OUTAGE_MS = 4000
const DEAD = 'a consumer group\'s process is dead (no Redis subscription): its members are marked offline'
const node = (id: string): Promise<Node> => cluster.startNode({ WARDEN_BROKER_ID: id })

async function members (n: Node): Promise<Record<string, string | null>> {
  const res = await fetch(`${n.http}/api/v1/groups`, { headers: { authorization: basic('observer') } })
  const body = await res.json() as { groups: Array<{ group: string, members: Array<{ clientId: string, broker: string | null }> }> }
  return Object.fromEntries((body.groups.find((g) => g.group === 'g')?.members ?? []).map((m) => [m.clientId, m.broker]))
}

describe('Redis restarted under a consumer group spread over processes', () => {
  it('finds no process dead: every member stays; a process killed afterwards is found dead', async () => {
    const [a, b] = await Promise.all([node('rr-a'), node('rr-b')])
    for (const [n, id] of [[a, 'm-a'], [b, 'm-b']] as const) {
      const c = await scope.client('dashboard', { clientId: id, reconnectPeriod: 200 }, n)
      expect(await subscribe(c, FILTER, 1)).toEqual([1])
    }
    await expect.poll(async () => await members(a)).toEqual({ 'm-a': 'rr-a', 'm-b': 'rr-b' })
    await redis.kill()
    await expect.poll(async () => await Promise.all([a, b].map(async (n) => (await fetch(`${n.http}/readyz`)).status))).toEqual([503, 503])
    // down for OUTAGE_MS (the condition under test, not a wait for an event): each connection's reconnection
    // attempts are then up to 2 s apart (ioredis's backoff), so the processes' subscriptions come back at different times
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS))
    await redis.restart()
    // a process started and killed after the restart: found dead once the others' watch acts again
    const c = await node('rr-c')
    const doomed = await scope.client('dashboard', { clientId: 'm-c' }, c)
    expect(await subscribe(doomed, FILTER, 1)).toEqual([1])
    await c.app.stop('SIGKILL')
    await Promise.any([a, b].map(async (n) => await n.app.waitForLog((l) => l.msg === DEAD && l.broker === 'rr-c')))
    for (const n of [a, b]) expect(n.app.output.filter((l) => l.includes(DEAD) && !l.includes('rr-c'))).toEqual([])
    await expect.poll(async () => await members(a)).toEqual({ 'm-a': 'rr-a', 'm-b': 'rr-b' })
  })
})
