// A consumer-group member's broker process killed outright (SIGKILL) stays listed as alive for up to 20 s, its
// members connected as far as the cluster knows; but Redis dropped its subscriptions at once. A process that
// forwards a copy to it learns so from Redis when it sends the batch (groups/cluster-link.ts): nothing is sent,
// the copy goes at once to another member or the group's queue, and the dead process's members are skipped from
// then on — no publisher waits out sharedSubscriptions.handoverTimeoutMs for it. A process alive but stopped
// (SIGSTOP) still holds its subscriptions and is waited for, as before.
import { Redis } from 'ioredis'
import type { MqttClient } from 'mqtt'
import { describe, expect, it } from 'vitest'
import { useCluster, type BrokerNode as Node } from '../helpers/cluster.js'
import { subscribe, type TestClient } from '../helpers/mqtt.js'
import { useScope } from '../helpers/scope.js'

const HANDOVER_MS = 4000
const cluster = useCluster('warden-shared-dead-', { sharedSubscriptions: { handoverTimeoutMs: HANDOVER_MS } })
const scope = useScope()
const node = (id: string): Promise<Node> => cluster.startNode({ WARDEN_BROKER_ID: id })
const client = (n: Node, username: string, opts: Record<string, unknown> = {}): Promise<TestClient> => scope.client(username, opts, n)
const TOPIC = 'sensors/sensor-1/t'
const FILTER = '$share/g/sensors/#'
const TAKEN_BACK = 'a consumer-group copy handed over to another process was not taken in time: taken back'
const UNREACHABLE = 'a consumer group\'s process no longer listens on Redis: its members get nothing until it does'
const N = 20

/** QoS 1 publish: resolves with whether its PUBACK came (false: the connection closed first) */
function acknowledged (c: MqttClient, payload: string): Promise<boolean> {
  return new Promise((resolve) => {
    const onClose = (): void => resolve(false)
    c.once('close', onClose)
    c.publish(TOPIC, payload, { qos: 1 }, (err) => { c.off('close', onClose); resolve(err === undefined || err === null) })
  })
}
const lines = (n: Node, msg: string): Array<Record<string, unknown>> =>
  n.app.output.filter((l) => l.includes(msg)).map((l) => JSON.parse(l) as Record<string, unknown>)
const received = (clients: readonly TestClient[], payload: string): number =>
  clients.reduce((k, c) => k + c.messages.filter((m) => m.payload === payload).length, 0)

/** kills `n` and waits until Redis no longer counts its bus among the subscribers of its batch topic */
async function kill (n: Node, id: string): Promise<void> {
  const r = new Redis(cluster.redisUrl)
  scope.defer(() => r.disconnect())
  await n.app.stop('SIGKILL')
  // still among the groups' live processes: the gap this covers
  expect(await r.zscore('warden:share:brokers', id)).not.toBeNull()
  await expect.poll(async () => Number(((await r.pubsub('NUMSUB', `$WARDEN/share/batch/${id}`)) as unknown[])[1])).toBe(0)
}

describe('consumer-group copies for a member whose process was killed', () => {
  it('go to the surviving member at once: every publish acknowledged, none waits out the hand-over time-out, none lost', async () => {
    const [a, b, c] = await Promise.all([node('dh-a'), node('dh-b'), node('dh-c')])
    const live = await client(b, 'dashboard', { clientId: 'live' })
    expect(await subscribe(live, FILTER, 1)).toEqual([1])
    const doomed = await client(c, 'dashboard', { clientId: 'doomed', clean: false })
    expect(await subscribe(doomed, FILTER, 1)).toEqual([1])
    const pub = await client(a, 'sensor-1')
    pub.client.setMaxListeners(N + 10)
    // a holder of a valid account cannot make a dead process look alive by listening on its topic for it
    const squatter = await client(b, 'dashboard', { clientId: 'squatter' })
    expect(await subscribe(squatter, '$WARDEN/share/batch/dh-c', 1)).toEqual([128])
    await kill(c, 'dh-c')

    const payloads = Array.from({ length: N }, (_, i) => `m-${i}`)
    const t0 = Date.now()
    expect(await Promise.all(payloads.map(async (p) => await acknowledged(pub.client, p)))).toEqual(payloads.map(() => true))
    const elapsed = Date.now() - t0
    // the count that says it: a took nothing back after a time-out, and found c gone once
    expect(lines(a, TAKEN_BACK)).toEqual([])
    expect(lines(a, UNREACHABLE).map((l) => l.broker)).toEqual(['dh-c'])
    // a generous bound beside it: with the time-out waited, the batch for c alone took HANDOVER_MS
    expect(elapsed).toBeLessThan(HANDOVER_MS)
    for (const p of payloads) await live.waitFor((m) => m.payload === p, p)
    for (const p of payloads) expect(received([live], p)).toBe(1)
  })

  it('its group\'s only member: the copies wait in the group\'s queue for the next member, none waits out the time-out', async () => {
    const [a, c] = await Promise.all([node('dh-a'), node('dh-c')])
    const doomed = await client(c, 'dashboard', { clientId: 'only' })
    expect(await subscribe(doomed, FILTER, 1)).toEqual([1])
    const pub = await client(a, 'sensor-1')
    pub.client.setMaxListeners(N + 10)
    await kill(c, 'dh-c')

    const payloads = Array.from({ length: N }, (_, i) => `q-${i}`)
    expect(await Promise.all(payloads.map(async (p) => await acknowledged(pub.client, p)))).toEqual(payloads.map(() => true))
    expect(lines(a, TAKEN_BACK)).toEqual([])
    const next = await client(a, 'dashboard', { clientId: 'next' })
    expect(await subscribe(next, FILTER, 1)).toEqual([1])
    for (const p of payloads) await next.waitFor((m) => m.payload === p, p)
    for (const p of payloads) expect(received([next], p)).toBe(1)
  })

  it('a process alive but stopped (SIGSTOP) is still waited for: its copy is taken back after the time-out, not found gone', async () => {
    const [a, b, c] = await Promise.all([node('dh-a'), node('dh-b'), node('dh-c')])
    // the member on c joined first: the first message is its turn
    const stuck = await client(c, 'dashboard', { clientId: 'stuck', clean: false })
    expect(await subscribe(stuck, FILTER, 1)).toEqual([1])
    const live = await client(b, 'dashboard', { clientId: 'live' })
    expect(await subscribe(live, FILTER, 1)).toEqual([1])
    const pub = await client(a, 'sensor-1')
    c.app.child.kill('SIGSTOP')
    scope.defer(() => c.app.child.kill('SIGCONT'))

    expect(await acknowledged(pub.client, 'waited')).toBe(true)
    await live.waitFor((m) => m.payload === 'waited', 'waited')
    expect(lines(a, TAKEN_BACK).map((l) => l.broker)).toEqual(['dh-c'])
    expect(lines(a, UNREACHABLE)).toEqual([])
  })

  it('a process started again under the killed one\'s id gets its members\' copies again', async () => {
    const [a, b, c] = await Promise.all([node('dh-a'), node('dh-b'), node('dh-c')])
    const live = await client(b, 'dashboard', { clientId: 'live' })
    expect(await subscribe(live, FILTER, 1)).toEqual([1])
    const doomed = await client(c, 'dashboard', { clientId: 'doomed' })
    expect(await subscribe(doomed, FILTER, 1)).toEqual([1])
    const pub = await client(a, 'sensor-1')
    await kill(c, 'dh-c')
    for (const p of ['gone-0', 'gone-1']) expect(await acknowledged(pub.client, p)).toBe(true)
    await a.app.waitForLog((l) => l.msg === UNREACHABLE)

    const again = await node('dh-c')
    const back = await client(again, 'dashboard', { clientId: 'back' })
    expect(await subscribe(back, FILTER, 1)).toEqual([1])
    // the group's turns take in every member: within a few messages one is the new member's
    const payloads = Array.from({ length: 6 }, (_, i) => `again-${i}`)
    for (const p of payloads) expect(await acknowledged(pub.client, p)).toBe(true)
    await back.waitFor((m) => m.payload.startsWith('again-'), 'a copy on the restarted process')
    await expect.poll(() => payloads.filter((p) => received([live, back], p) > 0).length).toBe(payloads.length)
    for (const p of payloads) expect(received([live, back], p)).toBe(1)
    expect(lines(a, TAKEN_BACK)).toEqual([])
  })
})
