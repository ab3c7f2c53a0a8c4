// MQTT 5 across two broker processes on one Redis: shared subscriptions spread over both (properties kept on
// the copies one process forwards to the other, and in the group's Redis queue), a session resumed on the
// other process within its expiry that the first one never wipes, and a takeover across processes told with
// DISCONNECT 0x8E — never one by another account.
import type { IPublishPacket } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { PASSWORD } from '../helpers/broker.js'
import { basic } from '../helpers/http.js'
import { waitUntil } from '../helpers/ports.js'
import { useCluster, type BrokerNode } from '../helpers/cluster.js'
import { connackCode } from '../helpers/mqtt.js'
import { connect5, subscribe5, type V5Client } from '../helpers/mqtt5.js'
import { mosquittoPub, mosquittoSub, type Sub } from '../helpers/mosquitto.js'
import { useScope } from '../helpers/scope.js'

// sessions swept often: a session expired by a process that never had it shows within the test
const { startNode } = useCluster('warden-mqtt5-cluster-', { sessions: { sweepIntervalMs: 200 } })
const scope = useScope()
const subs: Sub[] = []
// before the nodes stop (hooks registered later run first)
afterEach(async () => { await Promise.all(subs.splice(0).map((s) => s.stop())) })

const observe = async <T>(node: BrokerNode, path: string): Promise<T> =>
  await (await fetch(node.http + path, { headers: { authorization: basic('observer') } })).json() as T
interface Groups { groups: Array<{ members: Array<{ clientId: string, connected: boolean }> }> }
/** the broker processes' own view: the client is a connected member of a group, or has a stored subscription */
const subscribed = async (node: BrokerNode, id: string): Promise<boolean> => {
  const g = await observe<Groups>(node, '/api/v1/groups')
  if (g.groups.some((x) => x.members.some((m) => m.clientId === id && m.connected))) return true
  const s = await fetch(`${node.http}/api/v1/sessions/${id}`, { headers: { authorization: basic('observer') } })
  return s.status === 200 && ((await s.json()) as { connected: boolean, subscriptions: number }).subscriptions > 0
}

/** mosquitto_sub -V mqttv5 (its process does not print its SUBACK in time: the broker is asked) */
async function mosq (node: BrokerNode, id: string, filter: string, extra: string[] = []): Promise<Sub> {
  const s = mosquittoSub(node.port, ['-V', 'mqttv5', '-i', id, '-q', '1', '-u', 'dashboard', '-P', PASSWORD, '-v', '-t', filter, ...extra])
  subs.push(s)
  await waitUntil(async () => await subscribed(node, id) ? true : undefined, `${id} subscribed`, 10_000)
  return s
}
const pub5 = async (node: BrokerNode, msg: string): Promise<void> => {
  const r = await mosquittoPub(node.port, ['-V', 'mqttv5', '-u', 'sensor-1', '-P', PASSWORD, '-q', '1', '-t', 'sensors/sensor-1/t', '-m', msg])
  expect(r.code).toBe(0)
}
const messages = (s: Sub): string[] => s.lines.filter((l) => l.startsWith('sensors/'))
const at = (node: BrokerNode, username: string, opts: Record<string, unknown> = {}): Promise<V5Client> => connect5(scope, node.url, username, opts)

const PROPS = { userProperties: { site: 'north' }, contentType: 'text/plain', correlationData: Buffer.from('c-9') }
const expectProps = (p: IPublishPacket): void => {
  expect(p.properties).toMatchObject({ userProperties: { site: 'north' }, contentType: 'text/plain' })
  expect(Buffer.from(p.properties?.correlationData ?? []).toString()).toBe('c-9')
}
const session = (clientId: string, expiry: number): Record<string, unknown> => ({ clientId, clean: false, properties: { sessionExpiryInterval: expiry } })

describe('MQTT 5 across two broker processes', () => {
  it('a group with a member on each process gets each message once; copies forwarded to the other process keep their properties', async () => {
    const [a, b] = await Promise.all([startNode(), startNode()])
    const ma = await at(a, 'dashboard', { clientId: 'ma' })
    const mb = await at(b, 'dashboard', { clientId: 'mb' })
    expect(ma.connack.properties?.sharedSubscriptionAvailable).toBe(true)
    expect(await subscribe5(ma, '$share/g/sensors/#', { qos: 1 })).toEqual([1])
    expect(await subscribe5(mb, '$share/g/sensors/#', { qos: 1 })).toEqual([1])
    const pub = await at(a, 'sensor-1')
    const n = 20
    for (let i = 0; i < n; i++) await pub.client.publishAsync('sensors/sensor-1/t', `m${i}`, { qos: 1, properties: PROPS })
    // the publishing process takes turns over both members
    await Promise.all([ma.count(n / 2), mb.count(n / 2)])
    const all = [...ma.got, ...mb.got].map((p) => p.payload.toString()).sort()
    expect(all).toEqual(Array.from({ length: n }, (_, i) => `m${i}`).sort())
    for (const p of [...ma.got, ...mb.got]) expectProps(p)
  })

  it('a persistent v5 member away gets the group\'s kept messages, with their properties, on the other process', async () => {
    const [a, b] = await Promise.all([startNode(), startNode()])
    const m = await at(a, 'dashboard', session('roaming-member', 3600))
    await subscribe5(m, '$share/g/sensors/#', { qos: 1 })
    await m.end()
    const pub = await at(a, 'sensor-1')
    await pub.client.publishAsync('sensors/sensor-1/t', 'kept', { qos: 1, properties: PROPS })
    const back = await at(b, 'dashboard', session('roaming-member', 3600))
    expectProps(await back.next((p) => p.payload.toString() === 'kept'))
  })

  it('a session resumed on the other process within its expiry is not wiped by the first process when that expiry passes', async () => {
    const [a, b] = await Promise.all([startNode(), startNode()])
    const first = await at(a, 'dashboard', session('roamer', 1))
    await subscribe5(first, 'sensors/#', { qos: 1 })
    await first.end()
    const resumed = await at(b, 'dashboard', session('roamer', 1))
    expect(resumed.connack.sessionPresent).toBe(true)
    // past the expiry the first process would have timed from the first disconnect (aedes 2's own timer)
    await new Promise((resolve) => setTimeout(resolve, 1500))
    await resumed.end()
    const pub = await at(a, 'sensor-1')
    await pub.client.publishAsync('sensors/sensor-1/t', 'while-away', { qos: 1 })
    const again = await at(a, 'dashboard', session('roamer', 1))
    expect(again.connack.sessionPresent).toBe(true)
    await again.next((p) => p.payload.toString() === 'while-away')
  })

  it('the same account connecting on the other process takes the session over: the old connection gets DISCONNECT 0x8E; ' +
    'another account is refused (CONNACK 0x85) and the owner stays connected', async () => {
    const [a, b] = await Promise.all([startNode(), startNode()])
    const owner = await at(a, 'dashboard', session('device-x', 600))
    await subscribe5(owner, 'sensors/#', { qos: 1 })
    expect(await connackCode(b.url, { protocolVersion: 5, username: 'sensor-2', password: PASSWORD, clientId: 'device-x', clean: false })).toBe(0x85)
    expect(await connackCode(b.url, { protocolVersion: 5, username: 'sensor-2', password: PASSWORD, clientId: 'device-x', clean: true })).toBe(0x85)
    const pub = await at(a, 'sensor-1')
    await pub.client.publishAsync('sensors/sensor-1/t', 'still-owner', { qos: 1 })
    await owner.next((p) => p.payload.toString() === 'still-owner')

    const d = owner.disconnected()
    const successor = await at(b, 'dashboard', session('device-x', 600))
    await owner.closed()
    // the DISCONNECT comes before the close, or not at all
    expect((await Promise.race([d, Promise.resolve(undefined)]))?.reasonCode).toBe(0x8E)
    expect(successor.connack.sessionPresent).toBe(true)
    await pub.client.publishAsync('sensors/sensor-1/t', 'to-successor', { qos: 1 })
    await successor.next((p) => p.payload.toString() === 'to-successor')
  })

  it('a session taken over on the other process within its Will Delay Interval does not publish its will (MQTT-3.1.3-9)', async () => {
    const [a, b] = await Promise.all([startNode(), startNode()])
    const watcher = await at(a, 'observer')
    await subscribe5(watcher, 'sensors/sensor-1/status', { qos: 1 })
    const will = { topic: 'sensors/sensor-1/status', payload: Buffer.from('gone'), qos: 1 as const, retain: false, properties: { willDelayInterval: 1 } }
    const dev = await at(a, 'sensor-1', { ...session('dev-w', 600), will })
    const d = dev.disconnected()
    await at(b, 'sensor-1', { ...session('dev-w', 600), will })
    expect((await d).reasonCode).toBe(0x8E)
    // past the delay the first process would have timed from the takeover
    await new Promise((resolve) => setTimeout(resolve, 1500))
    const pub = await at(a, 'sensor-1')
    await pub.client.publishAsync('sensors/sensor-1/status', 'marker', { qos: 1 })
    await watcher.next((p) => p.payload.toString() === 'marker')
    expect(watcher.got.map((p) => p.payload.toString())).toEqual(['marker'])
  })

  it('a session whose process died after its client left still expires after its interval, removed by the other process', async () => {
    const [a, b] = await Promise.all([startNode(), startNode()])
    const c = await at(a, 'dashboard', session('orphan', 1))
    await subscribe5(c, 'sensors/#', { qos: 1 })
    await c.end()
    const bound = async (): Promise<number> => (await fetch(`${b.http}/api/v1/sessions/orphan`, { headers: { authorization: basic('observer') } })).status
    expect(await bound()).toBe(200)
    await a.app.stop('SIGKILL')
    // the other process's sweep (every 200 ms here) removes it once its second has passed
    await waitUntil(async () => await bound() === 404 ? true : undefined, 'the session removed by the other process', 10_000)
    const back = await at(b, 'dashboard', session('orphan', 1))
    expect(back.connack.sessionPresent).toBe(false)
  })

  it('mosquitto_sub -V mqttv5: a group with a member on each process shares the stream; a -c -x session resumes on the other process', async () => {
    const [a, b] = await Promise.all([startNode(), startNode()])
    const [s1, s2] = [await mosq(a, 'mq-a', '$share/ops/sensors/#'), await mosq(b, 'mq-b', '$share/ops/sensors/#')]
    for (let i = 0; i < 6; i++) await pub5(a, `n${i}`)
    await Promise.all([s1, s2].map((s) => s.waitForLine(() => messages(s).length >= 3)))
    expect([...messages(s1), ...messages(s2)].sort()).toEqual(['n0', 'n1', 'n2', 'n3', 'n4', 'n5'].map((n) => `sensors/sensor-1/t ${n}`))

    const away = await mosq(a, 'mq-durable', 'sensors/#', ['-c', '-x', '600'])
    await away.stop()
    await pub5(a, 'while-away')
    const back = await mosq(b, 'mq-durable', 'sensors/#', ['-c', '-x', '600'])
    await back.waitForLine((l) => l === 'sensors/sensor-1/t while-away')
  })
})
