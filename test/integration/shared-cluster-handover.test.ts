// A consumer-group copy handed over to the broker process its member is connected to (groups/cluster-link.ts)
// is acknowledged to its publisher only once that process has it in the member's session (or has given it to
// the member). A process that does not answer in time (stopped, killed) has its copies taken back by the
// sender, for another member or the group's queue; one that takes a copy back too late drops it, so a QoS 2
// message still reaches the group once.
import type { MqttClient } from 'mqtt'
import { describe, expect, it } from 'vitest'
import { useCluster, type BrokerNode as Node } from '../helpers/cluster.js'
import { publish, subscribe, type TestClient } from '../helpers/mqtt.js'
import { useScope } from '../helpers/scope.js'

const HANDOVER_MS = 1500
const { startNode } = useCluster('warden-shared-handover-', { sharedSubscriptions: { handoverTimeoutMs: HANDOVER_MS } })
const scope = useScope()
const client = (node: Node, username: string, opts: Record<string, unknown> = {}): Promise<TestClient> => scope.client(username, opts, node)
const TOPIC = 'sensors/sensor-1/t'
const FILTER = '$share/g/sensors/#'

/** publishes and settles with whether its flow completed (QoS 1 PUBACK, QoS 2 PUBCOMP; false: the connection closed first) */
function acknowledged (c: MqttClient, payload: string, qos: 1 | 2): Promise<boolean> {
  return new Promise((resolve) => {
    const onClose = (): void => resolve(false)
    c.once('close', onClose)
    c.publish(TOPIC, payload, { qos }, (err) => { c.off('close', onClose); resolve(err === undefined || err === null) })
  })
}

/** a message that should have come long ago: the wait is bounded, so that a lost one fails the test, not its timeout */
async function arrives (c: TestClient, payload: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const bound = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${payload} never reached ${c.client.options.clientId ?? '?'}`)), 15_000)
  })
  try {
    await Promise.race([c.waitFor((m) => m.payload === payload, payload), bound])
  } finally {
    clearTimeout(timer)
  }
}

/** `payload` reached one of `clients` */
async function arrivesAt (clients: readonly TestClient[], payload: string): Promise<void> {
  await Promise.any(clients.map(async (c) => { await arrives(c, payload) }))
}

const received = (clients: readonly TestClient[], payload: string): number =>
  clients.reduce((n, c) => n + c.messages.filter((m) => m.payload === payload).length, 0)

describe.each([1, 2] as const)('a consumer-group copy handed over to another process, QoS %i', (qos) => {
  it('is acknowledged to its publisher only once it is safe: a process stopped, then killed, with it on its way loses nothing', async () => {
    const [a, b] = await Promise.all([startNode(), startNode()])
    // the group's one member: persistent, on b
    const keep = { clientId: `kept-${qos}`, clean: false }
    const m = await client(b, 'dashboard', keep)
    expect(await subscribe(m, FILTER, qos)).toEqual([qos])
    const pub = await client(a, 'sensor-1')
    // the link works: a copy goes from a to b
    await publish(pub, TOPIC, 'warm', { qos })
    await arrives(m, 'warm')

    b.app.child.kill('SIGSTOP')
    scope.defer(() => b.app.child.kill('SIGCONT'))
    expect(await acknowledged(pub.client, 'handed-over', qos)).toBe(true)
    await b.app.stop('SIGKILL')

    // the member comes back on a: the group gets the message, once
    const back = await client(a, 'dashboard', keep)
    await publish(pub, TOPIC, 'after', { qos })
    await arrives(back, 'after')
    await arrives(back, 'handed-over')
    expect(received([m, back], 'handed-over')).toBe(1)
  })

  it('a group of clean members only, all on a process that stopped: the copy waits in the group\'s queue for the next member', async () => {
    const [a, b] = await Promise.all([startNode(), startNode()])
    const m = await client(b, 'dashboard', { clientId: `clean-${qos}` })
    expect(await subscribe(m, FILTER, qos)).toEqual([qos])
    const pub = await client(a, 'sensor-1')
    b.app.child.kill('SIGSTOP')
    scope.defer(() => b.app.child.kill('SIGCONT'))
    expect(await acknowledged(pub.client, 'queued', qos)).toBe(true)
    await b.app.stop('SIGKILL')
    const next = await client(a, 'dashboard', { clientId: `next-${qos}` })
    expect(await subscribe(next, FILTER, qos)).toEqual([qos])
    await arrives(next, 'queued')
    expect(received([m, next], 'queued')).toBe(1)
  })

  it('a copy taken back from a stopped process goes to another member; the process, resumed, drops it: the group gets it once', async () => {
    const [a, b] = await Promise.all([startNode(), startNode()])
    // the member on b joined first: the first message is its turn
    const keep = { clientId: `slow-${qos}`, clean: false }
    const slow = await client(b, 'dashboard', keep)
    expect(await subscribe(slow, FILTER, qos)).toEqual([qos])
    const other = await client(a, 'dashboard', { clientId: `other-${qos}` })
    expect(await subscribe(other, FILTER, qos)).toEqual([qos])
    const pub = await client(a, 'sensor-1')

    b.app.child.kill('SIGSTOP')
    scope.defer(() => b.app.child.kill('SIGCONT'))
    expect(await acknowledged(pub.client, 'late', qos)).toBe(true)
    await arrives(other, 'late')
    b.app.child.kill('SIGCONT')
    // b reads the hand-over now, and finds it taken back
    await b.app.waitForLog((l) => l.msg === 'consumer-group copies taken back by their sender: dropped')
    // nothing for the member on b, live (the group's turns alternate: two messages, one each) …
    for (const p of ['live-0', 'live-1']) await publish(pub, TOPIC, p, { qos })
    await arrivesAt([slow, other], 'live-0')
    await arrivesAt([slow, other], 'live-1')
    await slow.end()
    // … nor from its session, on the other process
    const back = await client(a, 'dashboard', keep)
    for (const p of ['after-0', 'after-1']) await publish(pub, TOPIC, p, { qos })
    await arrivesAt([back, other], 'after-0')
    await arrivesAt([back, other], 'after-1')
    expect(received([slow, other, back], 'late')).toBe(1)
  })
})
