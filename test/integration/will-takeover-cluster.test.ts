// Cluster mode: a client id taken over on another broker process. The will stored for it is the new
// connection's: when the process holding it dies, a surviving process publishes it once. The old connection's
// delayed will (MQTT 5) is cancelled when the takeover resumes its session (MQTT-3.1.3-9) — and not left in
// Redis for a surviving process to publish once the old process has died — and published at once when the new
// CONNECT (Clean Start 1) ends that session (3.1.3.2.2).
import type { IClientOptions } from 'mqtt'
import { describe, expect, it } from 'vitest'
import { useCluster, type BrokerNode } from '../helpers/cluster.js'
import { publish, type TestClient } from '../helpers/mqtt.js'
import { connect5, subscribe5, type V5Client } from '../helpers/mqtt5.js'
import { useScope } from '../helpers/scope.js'

// a dead process's wills go out after 3–4 heartbeats: short ones keep the test short
const { startNode } = useCluster('warden-will-takeover-', { limits: { heartbeatIntervalMs: 200 } })
const scope = useScope()

const TOPIC = 'sensors/sensor-1/status'
const will = (payload: string, willDelayInterval?: number): NonNullable<IClientOptions['will']> => ({
  topic: TOPIC, payload: Buffer.from(payload), qos: 1 as const, retain: false,
  ...(willDelayInterval !== undefined ? { properties: { willDelayInterval } } : {})
})
const session = (clientId: string, clean = false): Record<string, unknown> => ({ clientId, clean, properties: { sessionExpiryInterval: 600 } })

/** resolves with `p`, or fails naming `what` once `ms` have passed */
async function within<T> (p: Promise<T>, what: string, ms = 8000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms) })
  try { return await Promise.race([p, late]) } finally { clearTimeout(timer) }
}

async function watch (node: BrokerNode): Promise<V5Client> {
  const w = await connect5(scope, node.url, 'observer')
  await subscribe5(w, TOPIC, { qos: 1 })
  return w
}

/** what `w` got, once a message published after everything before it has come */
async function payloads (node: BrokerNode, w: V5Client): Promise<string[]> {
  const p: TestClient = await scope.client('sensor-1', {}, node)
  await publish(p, TOPIC, 'marker', { qos: 1 })
  await w.next((m) => m.payload.toString() === 'marker')
  return w.got.map((m) => m.payload.toString())
}

describe('a will after its client id was taken over on another broker process', () => {
  it('Clean Start 0: the old connection\'s delayed will is cancelled, also once its process died; the new one\'s is ' +
    'published once when its own process dies', async () => {
    const [a, b, c] = await Promise.all([startNode(), startNode(), startNode()])
    const watcher = await watch(c)
    const old = await connect5(scope, a.url, 'sensor-1', { ...session('device-1'), will: will('old', 600) })
    const d = old.disconnected()
    await connect5(scope, b.url, 'sensor-1', { ...session('device-1'), will: will('new') })
    expect((await d).reasonCode).toBe(0x8E)
    await a.app.stop('SIGKILL')
    await b.app.stop('SIGKILL')
    await within(watcher.next((p) => p.payload.toString() === 'new'), 'the new connection\'s will, published by the surviving process')
    expect(await payloads(c, watcher)).toEqual(['new', 'marker'])
  })

  it('Clean Start 1: the takeover ends the old session, so its delayed will is published at once', async () => {
    const [a, b, c] = await Promise.all([startNode(), startNode(), startNode()])
    const watcher = await watch(c)
    const old = await connect5(scope, a.url, 'sensor-1', { ...session('device-2'), will: will('old', 600) })
    const d = old.disconnected()
    const next = await connect5(scope, b.url, 'sensor-1', { ...session('device-2', true), will: will('new') })
    expect((await d).reasonCode).toBe(0x8E)
    expect(next.connack.sessionPresent).toBe(false)
    await within(watcher.next((p) => p.payload.toString() === 'old'), 'the old session\'s will, published as the takeover ended it', 3000)
    await b.app.stop('SIGKILL')
    await within(watcher.next((p) => p.payload.toString() === 'new'), 'the new connection\'s will, published by a surviving process')
    expect(await payloads(c, watcher)).toEqual(['old', 'new', 'marker'])
  })

  it('3.1.1: the old connection\'s will goes out at the takeover, once; the new one\'s when its process dies, once', async () => {
    const [a, b, c] = await Promise.all([startNode(), startNode(), startNode()])
    const watcher = await watch(c)
    const old = await scope.client('sensor-1', { clientId: 'device-3', clean: false, will: will('old') }, a)
    await scope.client('sensor-1', { clientId: 'device-3', clean: false, will: will('new') }, b)
    await old.closed()
    await watcher.next((p) => p.payload.toString() === 'old')
    await a.app.stop('SIGKILL')
    await b.app.stop('SIGKILL')
    await within(watcher.next((p) => p.payload.toString() === 'new'), 'the new connection\'s will, published by the surviving process')
    expect(await payloads(c, watcher)).toEqual(['old', 'new', 'marker'])
  })
})
