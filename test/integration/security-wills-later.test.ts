// A will published after its client is gone — here by the broker restarted after a SIGKILL, on its LevelDB
// store — is judged against the account and the registry of that moment: a revoked owner's or a deleted
// account's will is neither published nor retained (and audited); a still-valid owner's will is published.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { baseConfig } from '../helpers/broker.js'
import { adminCall, startBrokerProcess, type BrokerProcess } from '../helpers/broker-process.js'
import { publish, subscribe, type TestClient } from '../helpers/mqtt.js'
import { useScope } from '../helpers/scope.js'

const WILL = { topic: 'sensors/sensor-1/status', payload: Buffer.from('offline'), qos: 1 as const, retain: true }

type Node = BrokerProcess

const scope = useScope()
let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warden-wills-'))
  scope.defer(() => rm(dir, { recursive: true, force: true }))
})

/** a broker process on the test's data dir; its stored wills are swept every 4 heartbeats */
async function startNode (heartbeatIntervalMs: number): Promise<Node> {
  const file = join(dir, `warden-${heartbeatIntervalMs}.yaml`)
  await writeFile(file, stringify({ ...(await baseConfig()), limits: { heartbeatIntervalMs } }))
  const node = await startBrokerProcess({ WARDEN_CONFIG: file, WARDEN_DATA_DIR: join(dir, 'data') })
  scope.defer(() => node.app.stop('SIGKILL'))
  return node
}

const client = (node: Node, username: string, opts: Record<string, unknown> = {}): Promise<TestClient> => scope.client(username, opts, node)

const api = (node: Node, method: string, path: string, body?: unknown): Promise<number> => adminCall(node.http, method, path, body)

/** sensor-1's device connects with a retained will, then its broker is SIGKILLed (the will stays stored) */
async function crashWithWill (node: Node, beforeCrash: () => Promise<void> = async () => {}): Promise<void> {
  await client(node, 'sensor-1', { clientId: 'device-1', will: WILL })
  await beforeCrash()
  await node.app.stop('SIGKILL')
}

/** what a new subscriber to sensors/# gets retained: sensor-2's marker comes after sensor-1's status in the store's order */
async function retainedOn (node: Node): Promise<string[]> {
  const marker = await client(node, 'sensor-2')
  await publish(marker, 'sensors/sensor-2/marker', 'marker', { qos: 1, retain: true })
  const reader = await client(node, 'observer')
  await subscribe(reader, 'sensors/#', 1)
  await reader.waitFor((m) => m.topic === 'sensors/sensor-2/marker')
  return reader.messages.filter((m) => m.topic === WILL.topic).map((m) => m.payload)
}

const willAudit = (reason: string) => (l: Record<string, unknown>): boolean =>
  l.msg === `denied will: ${reason}` && (l.audit as { topic?: string, clientId?: string } | undefined)?.clientId === 'device-1'

describe('a will published by the broker restarted after a SIGKILL', () => {
  it('is refused, not retained, and audited when its owner was revoked at run time', async () => {
    const first = await startNode(200)
    await crashWithWill(first, async () => {
      expect(await api(first, 'PATCH', `/api/v1/topics/${encodeURIComponent('sensors/sensor-1/#')}`, { owners: ['sensor-2'] })).toBe(200)
    })
    const again = await startNode(200)
    const line = await again.app.waitForLog(willAudit('not-owner'))
    expect(line.audit).toMatchObject({ kind: 'will', username: 'sensor-1', topic: WILL.topic, filter: 'sensors/sensor-1/#' })
    expect(await retainedOn(again)).toEqual([])
  })

  it('is refused, not retained, and audited when the account that set it was deleted', async () => {
    const first = await startNode(200)
    await crashWithWill(first)
    // a slower sweep: the account is deleted before the restarted broker looks at the stored wills
    const again = await startNode(1500)
    expect(await api(again, 'DELETE', '/api/v1/users/sensor-1')).toBeLessThan(300)
    const line = await again.app.waitForLog(willAudit('not-authorized'))
    expect(line.audit).toMatchObject({ kind: 'will', username: 'sensor-1', topic: WILL.topic, detail: 'the account that set the will was deleted' })
    expect(await retainedOn(again)).toEqual([])
  })

  it('is refused when the account was deleted and a new one created under the same name', async () => {
    const first = await startNode(200)
    await crashWithWill(first)
    const again = await startNode(1500)
    expect(await api(again, 'DELETE', '/api/v1/users/sensor-1')).toBeLessThan(300)
    expect(await api(again, 'POST', '/api/v1/users', { username: 'sensor-1', password: 'another-secret-1', roles: ['producer'] })).toBe(201)
    expect(await api(again, 'POST', '/api/v1/topics', { filter: 'sensors/sensor-1/status', owners: ['sensor-1'] })).toBe(201)
    await again.app.waitForLog(willAudit('not-authorized'))
    expect(await retainedOn(again)).toEqual([])
  })

  it('is published and retained when its owner still owns the topic', async () => {
    const first = await startNode(200)
    await crashWithWill(first)
    const again = await startNode(200)
    const watcher = await client(again, 'observer')
    await subscribe(watcher, WILL.topic, 1)
    const got = await watcher.waitFor((m) => m.topic === WILL.topic)
    expect(got.payload).toBe('offline')
    expect(await retainedOn(again)).toEqual(['offline'])
  })
})
