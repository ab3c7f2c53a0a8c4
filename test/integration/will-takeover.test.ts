// A client id taken over on one broker process: the will stored for it is the new connection's, whatever
// becomes of the old connection's will (published at the takeover, or cancelled with it). The old one's
// close must not delete the new one's stored will: after a crash the restarted broker publishes it, once.
// MQTT 5: a delayed will of the old connection is cancelled when the takeover resumes its session
// (MQTT-3.1.3-9), and published at once when the new CONNECT (Clean Start 1) ends that session (3.1.2.5).
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { IClientOptions } from 'mqtt'
import { beforeEach, describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { baseConfig } from '../helpers/broker.js'
import { startBrokerProcess, type BrokerProcess } from '../helpers/broker-process.js'
import { publish, subscribe, type TestClient } from '../helpers/mqtt.js'
import { connect5, subscribe5 } from '../helpers/mqtt5.js'
import { useScope } from '../helpers/scope.js'

const TOPIC = 'sensors/sensor-1/status'
const will = (payload: string, willDelayInterval?: number): NonNullable<IClientOptions['will']> => ({
  topic: TOPIC, payload: Buffer.from(payload), qos: 1 as const, retain: false,
  ...(willDelayInterval !== undefined ? { properties: { willDelayInterval } } : {})
})
/** a dead process's wills are swept every 4 heartbeats (800 ms): ten sweeps are plenty */
const SWEEPS_MS = 8000

const scope = useScope()
let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warden-will-takeover-'))
  scope.defer(() => rm(dir, { recursive: true, force: true }))
})

/** a broker process on the test's data dir (LevelDB), SIGKILLed after the test if still running */
async function startNode (): Promise<BrokerProcess> {
  const file = join(dir, 'warden.yaml')
  await writeFile(file, stringify({ ...(await baseConfig()), limits: { heartbeatIntervalMs: 200 } }))
  const node = await startBrokerProcess({ WARDEN_CONFIG: file, WARDEN_DATA_DIR: join(dir, 'data') })
  scope.defer(() => node.app.stop('SIGKILL'))
  return node
}

const client = (node: BrokerProcess, username: string, opts: Record<string, unknown> = {}): Promise<TestClient> => scope.client(username, opts, node)

/** resolves with `p`, or fails naming `what` once `ms` have passed */
async function within<T> (p: Promise<T>, what: string, ms = SWEEPS_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms) })
  try { return await Promise.race([p, late]) } finally { clearTimeout(timer) }
}

/** a persistent QoS 1 subscription to the will topic under `clientId` */
async function watch (node: BrokerProcess, clientId: string): Promise<TestClient> {
  const w = await client(node, 'observer', { clientId, clean: false })
  await subscribe(w, TOPIC, 1)
  return w
}

/** a message published after everything before it: what `w` got by then is all it gets from before */
async function mark (node: BrokerProcess, w: TestClient, marker: string): Promise<void> {
  const p = await client(node, 'sensor-1')
  await publish(p, TOPIC, marker, { qos: 1 })
  await w.waitFor((m) => m.payload === marker)
  await p.end()
}

const count = (w: TestClient, payload: string): number => w.messages.filter((m) => m.payload === payload).length

describe('a will after its client id was taken over on the same process', () => {
  it('3.1.1: the old connection\'s will goes out at the takeover; the new one\'s stays stored, and the broker restarted ' +
    'after a SIGKILL publishes it once', async () => {
    const first = await startNode()
    const watcher = await watch(first, 'watch-1')
    // another persistent watcher, offline from before the takeover to after the restart: it gets everything once, queued or live
    await (await watch(first, 'watch-2')).end()
    const old = await client(first, 'sensor-1', { clientId: 'device-1', clean: false, will: will('old') })
    await client(first, 'sensor-1', { clientId: 'device-1', clean: false, will: will('new') })
    await old.closed()
    await watcher.waitFor((m) => m.payload === 'old')
    // a write after the old will's removal: on disk once this is through
    await mark(first, watcher, 'marker-1')
    await first.app.stop('SIGKILL')

    const again = await startNode()
    const back = await client(again, 'observer', { clientId: 'watch-2', clean: false })
    await within(back.waitFor((m) => m.payload === 'new'), 'the new connection\'s will, published by the restarted broker')
    await mark(again, back, 'marker-2')
    expect([count(back, 'old'), count(back, 'marker-1'), count(back, 'new')]).toEqual([1, 1, 1])
  })

  it('MQTT 5, Clean Start 0: the old connection\'s delayed will is cancelled; the new one\'s, stored, is published once ' +
    'after a SIGKILL', async () => {
    const first = await startNode()
    const watcher = await connect5(scope, first.url, 'observer', { clientId: 'watch-3', clean: false, properties: { sessionExpiryInterval: 600 } })
    await subscribe5(watcher, TOPIC, { qos: 1 })
    const session = { clientId: 'device-3', clean: false, properties: { sessionExpiryInterval: 600 } }
    const old = await connect5(scope, first.url, 'sensor-1', { ...session, will: will('old', 1) })
    const d = old.disconnected()
    await connect5(scope, first.url, 'sensor-1', { ...session, will: will('new') })
    expect((await d).reasonCode).toBe(0x8E)
    // past the old will's delay
    await new Promise((resolve) => setTimeout(resolve, 1500))
    await first.app.stop('SIGKILL')
    await watcher.closed()

    const again = await startNode()
    const back = await connect5(scope, again.url, 'observer', { clientId: 'watch-3', clean: false, properties: { sessionExpiryInterval: 600 } })
    await within(back.next((p) => p.payload.toString() === 'new'), 'the new connection\'s will, published by the restarted broker')
    const p = await client(again, 'sensor-1')
    await publish(p, TOPIC, 'marker', { qos: 1 })
    await back.next((m) => m.payload.toString() === 'marker')
    const got = [...watcher.got, ...back.got].map((m) => m.payload.toString())
    expect(got.filter((s) => s !== 'marker')).toEqual(['new'])
  })

  it('MQTT 5, Clean Start 1: the takeover ends the old session, so its delayed will is published at once; the new ' +
    'connection\'s will when it drops', async () => {
    const node = await startNode()
    const watcher = await connect5(scope, node.url, 'observer')
    await subscribe5(watcher, TOPIC, { qos: 1 })
    const old = await connect5(scope, node.url, 'sensor-1', {
      clientId: 'device-4', clean: false, properties: { sessionExpiryInterval: 600 }, will: will('old', 600)
    })
    const d = old.disconnected()
    const next = await connect5(scope, node.url, 'sensor-1', {
      clientId: 'device-4', clean: true, properties: { sessionExpiryInterval: 600 }, will: will('new')
    })
    expect((await d).reasonCode).toBe(0x8E)
    expect(next.connack.sessionPresent).toBe(false)
    await within(watcher.next((p) => p.payload.toString() === 'old'), 'the old session\'s will, published as the takeover ended it', 3000)
    next.client.stream.destroy()
    await watcher.next((p) => p.payload.toString() === 'new')
    const p = await client(node, 'sensor-1')
    await publish(p, TOPIC, 'marker', { qos: 1 })
    await watcher.next((m) => m.payload.toString() === 'marker')
    expect(watcher.got.map((m) => m.payload.toString())).toEqual(['old', 'new', 'marker'])
  })

  it('MQTT 5: a client that dropped and comes back with Clean Start 1 within its will\'s delay ends the session: the will ' +
    'is published at once', async () => {
    const node = await startNode()
    const watcher = await connect5(scope, node.url, 'observer')
    await subscribe5(watcher, TOPIC, { qos: 1 })
    const old = await connect5(scope, node.url, 'sensor-1', {
      clientId: 'device-5', clean: false, properties: { sessionExpiryInterval: 600 }, will: will('old', 600)
    })
    old.client.stream.destroy()
    await old.closed()
    await connect5(scope, node.url, 'sensor-1', { clientId: 'device-5', clean: true, properties: { sessionExpiryInterval: 600 } })
    await within(watcher.next((p) => p.payload.toString() === 'old'), 'the ended session\'s will', 3000)
    const p = await client(node, 'sensor-1')
    await publish(p, TOPIC, 'marker', { qos: 1 })
    await watcher.next((m) => m.payload.toString() === 'marker')
    expect(watcher.got.map((m) => m.payload.toString())).toEqual(['old', 'marker'])
  })
})
