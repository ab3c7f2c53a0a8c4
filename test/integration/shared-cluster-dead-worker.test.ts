// A broker process killed outright (SIGKILL) is found dead by the others within about a second and a half
// (groups/dead-watch.ts: Redis no longer counts its bus among its link channel's subscribers), where the presence
// sweep took 20 s: its members leave the group listing (clean ones) or show offline (persistent ones, whose
// unacknowledged copies stay in their sessions for their next connection), and the copies it had given to clean
// members that had not acknowledged them go to another member (groups/held-copies.ts). A process alive but stopped
// (SIGSTOP) keeps its Redis connections and its members.
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { useCluster, type BrokerNode as Node } from '../helpers/cluster.js'
import { connectStalled, groupMembers, groupNodes, type ListedMember, payloads, publishStream, tally } from '../helpers/groups.js'
import { publish, subscribe } from '../helpers/mqtt.js'
import { startRedisRelay } from '../helpers/redis-relay.js'
import { useScope } from '../helpers/scope.js'

const HANDOVER_MS = 10_000
const cluster = useCluster('warden-shared-dead-worker-', { sharedSubscriptions: { handoverTimeoutMs: HANDOVER_MS } })
const scope = useScope()
const { node, client } = groupNodes(cluster, scope)
const TOPIC = 'sensors/sensor-1/t'
const FILTER = '$share/g/sensors/#'
/** how soon a dead process's members leave the listing: the watch checks every 0.5 s and believes 1 s of silence */
const LISTING_BOUND_MS = 4000
/** preloaded into a process whose claims of the batches it is handed are never sent (a kill lands before its claim) */
const HOLD_CLAIM = fileURLToPath(new URL('../helpers/hold-claim.mjs', import.meta.url))
const HANDED_ON = 'copies a dead broker process held for clean consumer-group members handed on'
const DEAD = 'a consumer group\'s process is dead (no Redis subscription): its members are marked offline'

type Listed = ListedMember
const listing = (n: Node): Promise<Listed[]> => groupMembers(n.http, 'g')
const byId = (members: readonly Listed[]): Record<string, string | null> =>
  Object.fromEntries(members.map((m) => [m.clientId, m.broker]))

function useRedis (): Redis {
  const r = new Redis(cluster.redisUrl)
  scope.defer(() => r.disconnect())
  return r
}
const heldBy = async (r: Redis, broker: string): Promise<number> => await r.hlen(`warden:share:held:\u0000${broker}`)

/** SIGKILLs `n` and resolves once Redis no longer counts its bus (when the others' watch can see it) */
async function kill (r: Redis, n: Node, id: string): Promise<number> {
  await n.app.stop('SIGKILL')
  await expect.poll(async () => Number(((await r.pubsub('NUMSUB', `$WARDEN/share/ack/${id}`)) as unknown[])[1])).toBe(0)
  return Date.now()
}

describe('a consumer group whose member\'s process is killed', () => {
  it('lists its members as gone within 4 s, keeps a persistent one\'s copy for its next session, and loses nothing', async () => {
    const r = useRedis()
    const [a, b, c] = await Promise.all([node('dw-a'), node('dw-b'), node('dw-c')])
    const live = await client(b, 'live')
    expect(await subscribe(live, FILTER, 1)).toEqual([1])
    // on c: a clean member, and a persistent one that holds what it gets without acknowledging it
    const doomed = await client(c, 'doomed')
    expect(await subscribe(doomed, FILTER, 1)).toEqual([1])
    const keeper = await connectStalled(c.port, 'dashboard', 'keeper', FILTER, 1, false)
    scope.defer(async () => await keeper.kill())
    // a holder of a valid account cannot keep a dead process listed by listening on its channel for it
    const squatter = await client(a, 'squatter')
    expect(await subscribe(squatter, '$WARDEN/share/ack/dw-c', 1)).toEqual([128])
    const pub = await client(a, 'pub-a')
    await expect.poll(async () => byId(await listing(a))).toEqual({ live: 'dw-b', doomed: 'dw-c', keeper: 'dw-c' })
    // turns go round every member: the persistent one gets some
    let i = 0
    while (keeper.held.length === 0) await publish(pub, TOPIC, `before-${i++}`, { qos: 1 })
    const kept = String(keeper.held[0]?.cmd === 'publish' ? keeper.held[0].payload : '')

    const killed = await kill(r, c, 'dw-c')
    // a stream published from the moment it died: every message to the one member left, once
    const sent = payloads(200, 'after-')
    const stream = publishStream(pub, TOPIC, sent.length, 1, 'after-')
    await expect.poll(async () => byId(await listing(a)), { timeout: LISTING_BOUND_MS * 2, interval: 100 }).toEqual({ live: 'dw-b', keeper: null })
    const elapsed = Date.now() - killed
    expect(elapsed).toBeLessThan(LISTING_BOUND_MS)
    // the other survivor lists the same
    expect(byId(await listing(b))).toEqual({ live: 'dw-b', keeper: null })
    await stream
    await expect.poll(() => tally([live], sent).missing.length).toBe(0)
    expect(tally([live], sent).duplicates).toBe(0)

    // the persistent member's unacknowledged copy was kept in its session: resent on its next connection, elsewhere
    await keeper.kill()
    const back = await client(a, 'keeper', { clean: false })
    await back.waitFor((m) => m.payload === kept, kept)
    expect(byId(await listing(b))).toEqual({ live: 'dw-b', keeper: 'dw-a' })
  })

  it('a process stopped (SIGSTOP) keeps its members while a killed one\'s leave', async () => {
    const r = useRedis()
    const [a, b, c] = await Promise.all([node('dw-a'), node('dw-b'), node('dw-c')])
    const stopped = await client(b, 'stopped')
    expect(await subscribe(stopped, FILTER, 1)).toEqual([1])
    const doomed = await client(c, 'doomed')
    expect(await subscribe(doomed, FILTER, 1)).toEqual([1])
    const watcher = await client(a, 'watcher')
    expect(await subscribe(watcher, FILTER, 1)).toEqual([1])
    const pub = await client(a, 'pub-a')
    await expect.poll(async () => Object.keys(byId(await listing(a))).length).toBe(3)
    b.app.child.kill('SIGSTOP')
    scope.defer(() => b.app.child.kill('SIGCONT'))
    await kill(r, c, 'dw-c')
    // the watch found c dead: it checked b in the same PUBSUB NUMSUB each time, and b is listening (stopped)
    await a.app.waitForLog((l) => l.msg === DEAD && l.broker === 'dw-c')
    await expect.poll(async () => byId(await listing(a))).toEqual({ stopped: 'dw-b', watcher: 'dw-a' })
    expect(a.app.output.filter((l) => l.includes('is dead (no Redis subscription)') && l.includes('dw-b'))).toEqual([])
    b.app.child.kill('SIGCONT')
    await publish(pub, TOPIC, 'after', { qos: 1 })
    await expect.poll(() => [stopped, watcher].reduce((k, m) => k + m.messages.filter((x) => x.payload === 'after').length, 0)).toBe(1)
  })

  it('a process whose Redis connections alone were cut is found dead, and records its members again once back', async () => {
    const relay = await startRedisRelay(Number(new URL(cluster.redisUrl).port))
    scope.defer(() => { relay.restore(); relay.close() })
    const [a, b] = await Promise.all([node('dw-a'), cluster.startNode({ WARDEN_BROKER_ID: 'dw-b', WARDEN_REDIS_URL: relay.url })])
    const there = await client(b, 'there')
    expect(await subscribe(there, FILTER, 1)).toEqual([1])
    const here = await client(a, 'here')
    expect(await subscribe(here, FILTER, 1)).toEqual([1])
    await expect.poll(async () => byId(await listing(a))).toEqual({ there: 'dw-b', here: 'dw-a' })
    await relay.cut()
    await a.app.waitForLog((l) => l.msg === DEAD && l.broker === 'dw-b')
    expect(byId(await listing(a))).toEqual({ here: 'dw-a' })
    relay.restore()
    // at its next beat (every 5 s) b reads that it was found dead, and records its member again
    await b.app.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('another broker process found this one dead'))
    await expect.poll(async () => byId(await listing(a))).toEqual({ there: 'dw-b', here: 'dw-a' })
    const pub = await client(a, 'pub-a')
    const sent = payloads(20, 'back-')
    await publishStream(pub, TOPIC, sent.length, 1, 'back-')
    await expect.poll(() => tally([here, there], sent).missing.length).toBe(0)
    expect(there.messages.filter((m) => m.payload.startsWith('back-')).length).toBe(10)
  })
})

describe('a clean member\'s unacknowledged copy, its process killed', () => {
  it('QoS 1: goes to a member on another process', async () => {
    const r = useRedis()
    const [a, b, c] = await Promise.all([node('dw-a'), node('dw-b'), node('dw-c')])
    // on b: a clean member that never acknowledges
    const stalled = await connectStalled(b.port, 'dashboard', 'stalled', FILTER, 1)
    scope.defer(async () => await stalled.kill())
    const live = await client(c, 'live')
    expect(await subscribe(live, FILTER, 1)).toEqual([1])
    const pub = await client(a, 'pub-a')
    await expect.poll(async () => Object.keys(byId(await listing(a))).length).toBe(2)
    let i = 0
    while (stalled.held.length === 0) await publish(pub, TOPIC, `m-${i++}`, { qos: 1 })
    const p = stalled.held[0]
    const unacked = String(p?.cmd === 'publish' ? p.payload : '')

    await kill(r, b, 'dw-b')
    await expect.poll(() => live.messages.filter((m) => m.payload === unacked).length, { timeout: LISTING_BOUND_MS * 2 }).toBe(1)
    // every message published reached the surviving member, once (the unacknowledged one after its first member's death)
    expect(tally([live], Array.from({ length: i }, (_, k) => `m-${k}`))).toMatchObject({ missing: [], duplicates: 0 })
    expect(await heldBy(r, 'dw-b')).toBe(0)
  })

  it('QoS 2: the unacknowledged copy goes to another member, none that a member did acknowledge (PUBREC)', async () => {
    const r = useRedis()
    const [a, b, c] = await Promise.all([node('dw-a'), node('dw-b'), node('dw-c')])
    const stalled = await connectStalled(b.port, 'dashboard', 'stalled', FILTER, 2)
    scope.defer(async () => await stalled.kill())
    // on b too: a clean member that acknowledges (MQTT.js: PUBREC, and the message handed over at PUBREL)
    const acking = await client(b, 'acking')
    expect(await subscribe(acking, FILTER, 2)).toEqual([2])
    const live = await client(c, 'live')
    expect(await subscribe(live, FILTER, 2)).toEqual([2])
    const pub = await client(a, 'pub-a')
    await expect.poll(async () => Object.keys(byId(await listing(a))).length).toBe(3)
    let i = 0
    while (stalled.held.length === 0 || acking.messages.length === 0) await publish(pub, TOPIC, `m-${i++}`, { qos: 2 })
    const p = stalled.held[0]
    const unacked = String(p?.cmd === 'publish' ? p.payload : '')
    // b keeps the stalled member's copy only: the acknowledged ones left Redis with their PUBREC
    await expect.poll(() => heldBy(r, 'dw-b')).toBe(stalled.held.length)

    await kill(r, b, 'dw-b')
    await expect.poll(() => live.messages.filter((m) => m.payload === unacked).length, { timeout: LISTING_BOUND_MS * 2 }).toBe(1)
    // the ones the acknowledging member got are not given again
    await publish(pub, TOPIC, 'last', { qos: 2 })
    await live.waitFor((m) => m.payload === 'last', 'last')
    const taken = new Set(acking.messages.map((m) => m.payload))
    expect(live.messages.filter((m) => taken.has(m.payload))).toEqual([])
    expect(tally([live, acking], [...Array.from({ length: i }, (_, k) => `m-${k}`), 'last'])).toMatchObject({ missing: [], duplicates: 0 })
  })
})

describe('a process killed after taking a batch and before claiming it', () => {
  it('QoS 2, clean member: the sender takes the copy back at once and gives it to another member; it is not handed on twice', async () => {
    const r = useRedis()
    const [a, b, c] = await Promise.all([
      node('dw-a'),
      cluster.startNode({ WARDEN_BROKER_ID: 'dw-b', NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${HOLD_CLAIM}`, WARDEN_TEST_HOLD_CLAIM: '1' }),
      node('dw-c')
    ])
    const there = await connectStalled(b.port, 'dashboard', 'there', FILTER, 2)
    scope.defer(async () => await there.kill())
    const live = await client(c, 'live')
    expect(await subscribe(live, FILTER, 2)).toEqual([2])
    const pub = await client(a, 'pub-a')
    await expect.poll(async () => Object.keys(byId(await listing(a))).length).toBe(2)
    // one of the two is the turn of the member on b
    const sent = ['m-0', 'm-1']
    const published = Promise.all(sent.map(async (p) => { await publish(pub, TOPIC, p, { qos: 2 }) }))
    await b.app.waitForLog((l) => l.msg === 'test: claim held')
    const killed = await kill(r, b, 'dw-b')
    // found dead by a or c (the first to mark its member offline; the other then has no member there to watch)
    await Promise.any([a, c].map(async (n) => await n.app.waitForLog((l) => l.msg === DEAD && l.broker === 'dw-b')))
    // acknowledged once the sender took it back: at once when it found b dead, not after handoverTimeoutMs
    await published
    expect(Date.now() - killed).toBeLessThan(HANDOVER_MS - 2000)
    await publish(pub, TOPIC, 'last', { qos: 2 })
    await live.waitFor((m) => m.payload === 'last', 'last')
    expect(tally([live], [...sent, 'last'])).toMatchObject({ missing: [], duplicates: 0 })
    for (const n of [a, c]) expect(n.app.output.filter((l) => l.includes(HANDED_ON))).toEqual([])
  })
  it('QoS 2, persistent member: the copy left in its session is not resent when it resumes elsewhere; the other member has it', async () => {
    const r = useRedis()
    const [a, b, c] = await Promise.all([
      node('dw-a'),
      cluster.startNode({ WARDEN_BROKER_ID: 'dw-b', NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${HOLD_CLAIM}`, WARDEN_TEST_HOLD_CLAIM: '1' }),
      node('dw-c')
    ])
    const keeper = await client(b, 'keeper', { clean: false, reconnectPeriod: 0 })
    expect(await subscribe(keeper, FILTER, 2)).toEqual([2])
    const live = await client(c, 'live')
    expect(await subscribe(live, FILTER, 2)).toEqual([2])
    const pub = await client(a, 'pub-a')
    await expect.poll(async () => Object.keys(byId(await listing(a))).length).toBe(2)
    const sent = ['m-0', 'm-1']
    const published = Promise.all(sent.map(async (p) => { await publish(pub, TOPIC, p, { qos: 2 }) }))
    // b stored its copy in keeper's session, and dies before it claims the batch
    await b.app.waitForLog((l) => l.msg === 'test: claim held')
    await kill(r, b, 'dw-b')
    await published
    await live.waitFor((m) => m.payload === 'm-0', 'm-0')
    await live.waitFor((m) => m.payload === 'm-1', 'm-1')
    // keeper's session resumed on c: what it replays comes first, then the group's messages in turn
    const back = await client(c, 'keeper', { clean: false })
    let i = 0
    while (!back.messages.some((m) => m.payload.startsWith('after-'))) await publish(pub, TOPIC, `after-${i++}`, { qos: 2 })
    // the loop ends at the first of back's turns to arrive: live's turns published before it may still be on their way
    const all = [...sent, ...Array.from({ length: i }, (_, k) => `after-${k}`)]
    await expect.poll(() => tally([live, back], all).missing, { timeout: 5000 }).toEqual([])
    expect(back.messages.filter((m) => sent.includes(m.payload))).toEqual([])
    expect(tally([live, back], all).duplicates).toBe(0)
  })
})
