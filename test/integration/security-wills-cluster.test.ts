// Cluster mode: when a broker process dies, a surviving one publishes its clients' wills (aedes's heartbeat
// sweep, with no client). Each is judged against the account that set it and the registry of that moment:
// a will whose owner was revoked is neither published nor retained, and is audited; an owner's will is.
import { describe, expect, it } from 'vitest'
import { useCluster, type BrokerNode } from '../helpers/cluster.js'
import { basic } from '../helpers/http.js'
import { publish, subscribe } from '../helpers/mqtt.js'
import { useScope } from '../helpers/scope.js'

// a dead process's wills go out after 3–4 heartbeats: short ones keep the test short
const { startNode } = useCluster('warden-wills-cluster-', { limits: { heartbeatIntervalMs: 200 } })
const scope = useScope()

const WILL = { topic: 'sensors/sensor-1/status', payload: Buffer.from('offline'), qos: 1 as const, retain: true }

async function api (node: BrokerNode, method: string, path: string, body?: unknown): Promise<number> {
  const res = await fetch(node.http + path, {
    method,
    headers: { authorization: basic('admin'), 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {})
  })
  await res.text()
  return res.status
}

/** what a new subscriber to sensors/# on `node` gets retained on the will's topic (sensor-2's marker comes after it) */
async function retainedOn (node: BrokerNode): Promise<string[]> {
  const marker = await scope.client('sensor-2', {}, node)
  await publish(marker, 'sensors/sensor-2/marker', 'marker', { qos: 1, retain: true })
  const reader = await scope.client('observer', {}, node)
  await subscribe(reader, 'sensors/#', 1)
  await reader.waitFor((m) => m.topic === 'sensors/sensor-2/marker')
  return reader.messages.filter((m) => m.topic === WILL.topic).map((m) => m.payload)
}

const willAudit = (l: Record<string, unknown>): boolean =>
  l.msg === 'denied will: not-owner' && (l.audit as { clientId?: string } | undefined)?.clientId === 'device-1'

describe('a dead broker process\'s will, published by a surviving one', () => {
  it('is refused, not retained, and audited when its owner was revoked (through the other process)', async () => {
    const [a, b] = await Promise.all([startNode(), startNode()])
    await scope.client('sensor-1', { clientId: 'device-1', will: WILL }, a)
    expect(await api(b, 'PATCH', `/api/v1/topics/${encodeURIComponent('sensors/sensor-1/#')}`, { owners: ['sensor-2'] })).toBe(200)
    await a.app.stop('SIGKILL')
    const line = await b.app.waitForLog(willAudit)
    expect(line.audit).toMatchObject({ kind: 'will', username: 'sensor-1', topic: WILL.topic, filter: 'sensors/sensor-1/#' })
    expect(await retainedOn(b)).toEqual([])
  })

  it('is published and retained when its owner still owns the topic', async () => {
    const [a, b] = await Promise.all([startNode(), startNode()])
    const watcher = await scope.client('observer', {}, b)
    await subscribe(watcher, WILL.topic, 1)
    await scope.client('sensor-1', { clientId: 'device-1', will: WILL }, a)
    await a.app.stop('SIGKILL')
    expect((await watcher.waitFor((m) => m.topic === WILL.topic)).payload).toBe('offline')
    // retained: a new subscriber to the topic itself gets it (Redis does not promise the marker's order here)
    const late = await scope.client('observer', {}, b)
    await subscribe(late, WILL.topic, 1)
    expect(await late.waitFor((m) => m.topic === WILL.topic && m.retain)).toMatchObject({ payload: 'offline' })
  })
})
