// A broker process alive but stopped (SIGSTOP, a long GC pause, a VM stall) for longer than the presence TTL
// (20 s) keeps its Redis connections: the others' presence sweep must not take it for dead while it still listens
// on Redis (groups/presence-sweep.ts). Taken for dead, its members were marked offline and the copies it held for
// clean members handed on (a second copy once it resumed), and a group whose only member was there lost the copies
// taken back into its queue (the queue went with the group's last member): acknowledged QoS 1 messages lost.
import { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { useCluster, type BrokerNode as Node } from '../helpers/cluster.js'
import { connectStalled, groupMembers, groupNodes, tally } from '../helpers/groups.js'
import { publish, subscribe } from '../helpers/mqtt.js'
import { useScope } from '../helpers/scope.js'

const HANDOVER_MS = 2000
const cluster = useCluster('warden-shared-stopped-worker-', { sharedSubscriptions: { handoverTimeoutMs: HANDOVER_MS } })
const scope = useScope()
const { node, client } = groupNodes(cluster, scope)
/** a group whose one member is on the process stopped */
const SOLO = '$share/solo/sensors/+/solo'
/** a group with a member there that holds what it is given, unacknowledged, and one on another process */
const PAIR = '$share/pair/sensors/+/pair'
/** a group whose one member is persistent */
const KEPT_FILTER = '$share/kept/sensors/+/kept'
/** what the sweep logs where it finds the stopped process silent (20 s without presence) but listening */
const KEPT = 'a consumer group\'s process silent for 20 s still listens on Redis (stopped, or a long pause): its members are kept'
/** what it logged where it took that process for dead (members of a vanished process marked offline) */
const RELEASED = 'consumer group member of a vanished broker process marked offline'
const HANDED_ON = 'copies a dead broker process held for clean consumer-group members handed on'

const byId = async (n: Node, group: string): Promise<Record<string, string | null>> =>
  Object.fromEntries((await groupMembers(n.http, group)).map((m) => [m.clientId, m.broker]))

describe('a process stopped past the presence TTL, still listening on Redis', () => {
  it('keeps its members: what a group queued for it while stopped all reaches it once it resumes, and what it held goes to nobody else', async () => {
    const r = new Redis(cluster.redisUrl)
    scope.defer(() => r.disconnect())
    const [a, b, c] = await Promise.all([node('sw-a'), node('sw-b'), node('sw-c')])
    const solo = await client(b, 'solo')
    expect(await subscribe(solo, SOLO, 1)).toEqual([1])
    const stalled = await connectStalled(b.port, 'dashboard', 'stalled', PAIR, 1)
    scope.defer(async () => await stalled.kill())
    const other = await client(c, 'other')
    expect(await subscribe(other, PAIR, 1)).toEqual([1])
    const pub = await client(a, 'pub-a')
    await expect.poll(async () => [await byId(a, 'solo'), await byId(a, 'pair')]).toEqual([{ solo: 'sw-b' }, { stalled: 'sw-b', other: 'sw-c' }])

    // the stalled member holds a copy (kept in Redis for it, as for any clean member, until it acknowledges)
    const pair: string[] = []
    while (stalled.held.length === 0) {
      const m = `pair-${pair.length}`
      pair.push(m)
      await publish(pub, 'sensors/sensor-1/pair', m, { qos: 1 })
    }
    // nothing on its way: every copy it was given is written to it
    await expect.poll(() => r.hlen('warden:share:held:\u0000sw-b')).toBe(stalled.held.length)

    b.app.child.kill('SIGSTOP')
    const stoppedAt = Date.now()
    scope.defer(() => b.app.child.kill('SIGCONT'))
    // not answered by b: taken back after the hand-over time-out, kept in the group's queue, acknowledged
    const queued = ['solo-0', 'solo-1', 'solo-2']
    await Promise.all(queued.map(async (m) => { await publish(pub, 'sensors/sensor-1/solo', m, { qos: 1 }) }))
    // b's presence lapses (20 s after its last beat, every 5 s) and a sweep of a or c (every 10 s) finds it silent
    const decided = await Promise.any([a, c].map(async (n) => await n.app.waitForLog((l) => (l.msg === KEPT || l.msg === RELEASED) && l.broker === 'sw-b')))
    expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(15_000)
    const listed = [await byId(a, 'solo'), await byId(a, 'pair')]

    b.app.child.kill('SIGCONT')
    await expect.poll(() => tally([solo], queued).missing, { timeout: 25_000 }).toEqual([])
    expect(tally([solo], queued).duplicates).toBe(0)
    // a copy the stalled member holds reached no other member
    const held = stalled.held.map((p) => p.cmd === 'publish' ? String(p.payload) : '')
    expect(other.messages.map((m) => m.payload).filter((p) => held.includes(p))).toEqual([])
    expect(held.filter((p, i) => held.indexOf(p) !== i)).toEqual([])
    expect(tally([other], pair.filter((p) => !held.includes(p)))).toMatchObject({ missing: [], duplicates: 0 })
    // while b was silent its members stayed listed, and nothing it held was handed on
    expect(decided.msg).toBe(KEPT)
    expect(listed).toEqual([{ solo: 'sw-b' }, { stalled: 'sw-b', other: 'sw-c' }])
    for (const n of [a, c]) expect(n.app.output.filter((l) => l.includes(HANDED_ON))).toEqual([])
    // (solo's copies leave it with solo's PUBACKs, a few milliseconds after)
    await expect.poll(() => r.hlen('warden:share:held:\u0000sw-b')).toBe(stalled.held.length)
  }, 90_000)
})

describe('a process stopped past the presence TTL, then killed', () => {
  it('loses nothing sent to it meanwhile: still in batches it must answer, taken back, kept for the persistent member\'s next session', async () => {
    const r = new Redis(cluster.redisUrl)
    scope.defer(() => r.disconnect())
    const [a, b] = await Promise.all([node('sw-a'), node('sw-b')])
    const keeper = await scope.client('dashboard', { clientId: 'keeper', clean: false }, b)
    expect(await subscribe(keeper, KEPT_FILTER, 1)).toEqual([1])
    const pub = await client(a, 'pub-a')
    await expect.poll(async () => await byId(a, 'kept')).toEqual({ keeper: 'sw-b' })
    await publish(pub, 'sensors/sensor-1/kept', 'warm', { qos: 1 })
    await keeper.waitFor((m) => m.payload === 'warm', 'warm')

    b.app.child.kill('SIGSTOP')
    scope.defer(() => b.app.child.kill('SIGCONT'))
    const said = Number(await r.zscore('warden:share:batching', 'sw-b'))
    // a beat of a (its presence, every 5 s) read that b has not said it reads batches for longer than the TTL
    await expect.poll(async () => Number(await r.zscore('warden:share:brokers', 'sw-a')) - said, { timeout: 35_000, interval: 200 })
      .toBeGreaterThan(20_000)
    const sent = ['late-0', 'late-1', 'late-2']
    await Promise.all(sent.map(async (m) => { await publish(pub, 'sensors/sensor-1/kept', m, { qos: 1 }) }))
    await b.app.stop('SIGKILL')
    await expect.poll(async () => await byId(a, 'kept'), { timeout: 8000 }).toEqual({ keeper: null })

    const back = await scope.client('dashboard', { clientId: 'keeper', clean: false }, a)
    await expect.poll(() => tally([back], sent).missing, { timeout: 15_000 }).toEqual([])
    // ('warm' may come again: b may not have read its PUBACK before it stopped)
    expect(tally([back], sent).duplicates).toBe(0)
    expect(keeper.messages.filter((m) => sent.includes(m.payload))).toEqual([])
  }, 90_000)
})
