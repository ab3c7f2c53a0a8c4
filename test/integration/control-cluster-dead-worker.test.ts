// A worker killed outright (SIGKILL) stays listed among the cluster's live workers until its entry expires, but
// Redis drops its connections at once: the others no longer wait for its part (a topic's registration asks every
// worker for its clients, twice; a consumer group's new member, before its SUBACK, waits for every process to have
// read the change). A worker that is alive but does not answer (SIGSTOP) is still waited for.
import { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { basic } from '../helpers/http.js'
import { useCluster, type BrokerNode } from '../helpers/cluster.js'
import { subscribe } from '../helpers/mqtt.js'
import { parseExposition } from '../helpers/prometheus.js'
import { useScope } from '../helpers/scope.js'
import { ASK_TIMEOUT_MS } from '../../apps/broker/src/observe/cluster-view.js'

const cluster = useCluster('warden-cluster-dead-')
const scope = useScope()

const node = (id: string): Promise<BrokerNode> => cluster.startNode({ WARDEN_BROKER_ID: id })
async function call (n: BrokerNode, method: string, path: string, body?: unknown): Promise<{ status: number, body: any }> {
  const res = await fetch(n.http + path, {
    method, headers: { authorization: basic('admin'), 'content-type': 'application/json' }, ...body === undefined ? {} : { body: JSON.stringify(body) }
  })
  const text = await res.text()
  return { status: res.status, body: text.startsWith('{') ? JSON.parse(text) : text }
}
/** `n`'s own series of its scrape */
async function metricOf (n: BrokerNode, name: string, labels: Record<string, string>): Promise<number | undefined> {
  return parseExposition((await call(n, 'GET', '/metrics')).body as string).value(name, labels)
}
const redisConn = (): Redis => {
  const c = new Redis(cluster.redisUrl)
  scope.defer(() => c.disconnect())
  return c
}
/** subscribers of a worker's reply channel: its connection to Redis, as Redis sees it */
const subscribed = async (r: Redis, worker: string): Promise<number> =>
  Number(((await r.pubsub('NUMSUB', `warden:cluster\u0000reply:${worker}`)) as unknown[])[1])

describe('a worker of three killed with SIGKILL', () => {
  it('is not waited for: a topic created on another answers, the dead worker named as missing, no ask waited out', async () => {
    const [a, , c] = await Promise.all([node('dw-a'), node('dw-b'), node('dw-c')])
    const r = redisConn()
    await c.app.stop('SIGKILL')
    // still listed (its entry lasts 15 s), its connections gone (the kernel closed its sockets)
    expect(await r.zscore('warden:cluster-workers', 'dw-c')).not.toBeNull()
    await expect.poll(() => subscribed(r, 'dw-c')).toBe(0)

    const t0 = Date.now()
    const created = await call(a, 'POST', '/api/v1/topics', { filter: 'plant/line-1/#', owners: ['sensor-1'] })
    const elapsed = Date.now() - t0
    expect(created.status).toBe(201)
    const modified = await call(a, 'PATCH', `/api/v1/topics/${encodeURIComponent('plant/line-1/#')}`, { owners: ['sensor-1', 'sensor-2'] })
    expect(modified.status).toBe(200)
    // the count that says it: none of a's asks (users and topics, for each change) waited for the dead worker
    expect(await metricOf(a, 'warden_cluster_ask_timeouts_total', { worker: 'dw-a' })).toBe(0)
    const scrape = parseExposition((await call(a, 'GET', '/metrics')).body as string)
    expect(scrape.value('warden_cluster_workers', { state: 'missing' })).toBe(1)
    expect(scrape.value('warden_cluster_workers', { state: 'answered' })).toBe(2)
    // and a generous bound: each of the create's two asks used to wait ASK_TIMEOUT_MS (at least 4 s in all)
    expect(elapsed).toBeLessThan(ASK_TIMEOUT_MS)
    const clients = await call(a, 'GET', '/api/v1/clients')
    expect(clients.body.missing).toEqual(['dw-c'])
    expect([...clients.body.workers].sort()).toEqual(['dw-a', 'dw-b'])
  })

  it('is not waited for by a consumer group\'s new member: its SUBACK comes without the group change waiting out', async () => {
    const [a, b, c] = await Promise.all([node('dw-a'), node('dw-b'), node('dw-c')])
    const r = redisConn()
    await c.app.stop('SIGKILL')
    // c is still among the groups' live processes (for 20 s), its bus gone
    expect(await r.zscore('warden:share:brokers', 'dw-c')).not.toBeNull()
    await expect.poll(async () => Number(((await r.pubsub('NUMSUB', '$WARDEN/share/ack/dw-c')) as unknown[])[1])).toBe(0)
    const late = 'a consumer group change waited out other processes that did not read it'
    const member = await scope.client('dashboard', { clientId: 'member-1' }, a)
    expect(await subscribe(member, '$share/readers/sensors/#', 1)).toEqual([1])
    // b read the change (it was asked and answered); c was not asked
    expect(a.app.output.some((l) => l.includes(late))).toBe(false)
    // a process alive but stuck is still waited for, and named
    b.app.child.kill('SIGSTOP')
    scope.defer(() => b.app.child.kill('SIGCONT'))
    const second = await scope.client('dashboard', { clientId: 'member-2' }, a)
    expect(await subscribe(second, '$share/others/sensors/#', 1)).toEqual([1])
    const line = await a.app.waitForLog((l) => l.msg === late)
    expect(line.brokers).toEqual(['dw-b'])
  })

  it('one alive but not answering (SIGSTOP) is still waited for, and named once it did not answer', async () => {
    const [a, b] = await Promise.all([node('dw-a'), node('dw-b')])
    b.app.child.kill('SIGSTOP')
    scope.defer(() => b.app.child.kill('SIGCONT'))
    const clients = await call(a, 'GET', '/api/v1/clients')
    expect(clients.body.missing).toEqual(['dw-b'])
    expect(await metricOf(a, 'warden_cluster_ask_timeouts_total', { worker: 'dw-a' })).toBe(1)
    b.app.child.kill('SIGCONT')
    await expect.poll(async () => (await call(a, 'GET', '/api/v1/clients')).body.missing, { timeout: 10_000 }).toEqual([])
  })
})
