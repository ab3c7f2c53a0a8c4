// A QoS 2 message the broker stored but had not published when it died is published at the next start
// (qos2-guard.ts) — only if the account that published it still exists and still owns the topic at that
// moment; otherwise it is refused and audited. The crash lands in that window every time: a preloaded test
// module holds the store's queueing of the message (test/helpers/hold-enqueue.mjs), then the test SIGKILLs.
// (Warden's level store now writes an incoming QoS 2 packet in the batch that queues it, so only a store an
// earlier version left behind holds such a message: the module writes it as that version did.)
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Packet } from 'mqtt-packet'
import { beforeEach, describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { baseConfig } from '../helpers/broker.js'
import { adminCall, startBrokerProcess, type BrokerProcess } from '../helpers/broker-process.js'
import { publish, subscribe, type TestClient } from '../helpers/mqtt.js'
import { rawSession } from '../helpers/raw-mqtt.js'
import { useScope } from '../helpers/scope.js'

const HELD = 'sensors/sensor-1/held'
const HOLD = fileURLToPath(new URL('../helpers/hold-enqueue.mjs', import.meta.url))

type Node = BrokerProcess

const scope = useScope()
let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warden-qos2-'))
  scope.defer(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'warden.yaml'), stringify(await baseConfig()))
})

/** a broker process on the test's data dir; `hold`: with the fault injection loaded */
async function startNode (hold: boolean): Promise<Node> {
  const node = await startBrokerProcess({
    WARDEN_CONFIG: join(dir, 'warden.yaml'), WARDEN_DATA_DIR: join(dir, 'data'),
    ...(hold ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${HOLD}`, WARDEN_TEST_HOLD_TOPIC: HELD } : {})
  })
  scope.defer(() => node.app.stop('SIGKILL'))
  return node
}

const client = (node: Node, username: string, opts: Record<string, unknown> = {}): Promise<TestClient> => scope.client(username, opts, node)

const api = (node: Node, method: string, path: string, body?: unknown): Promise<number> => adminCall(node.http, method, path, body)

/**
 * A persistent subscriber to sensors/#, then sensor-1's device sends a QoS 2 PUBLISH (no PUBREC comes: the
 * store holds it); `meanwhile` runs, and the broker is SIGKILLed.
 */
async function crashWithStoredPublish (meanwhile: (node: Node) => Promise<void>): Promise<void> {
  const node = await startNode(true)
  const sub = await client(node, 'dashboard', { clientId: 'reader', clean: false })
  await subscribe(sub, 'sensors/#', 2)
  await sub.end()
  // a session that outlives its connection: an earlier version wrote every publisher's packet, this one writes only
  // those (store-qos2-session-ends.test.ts)
  const device = scope.track(await rawSession(node.port, 'sensor-1', 'device-1', { clean: false }))
  device.send({ cmd: 'publish', topic: HELD, payload: Buffer.from('stored'), qos: 2, messageId: 7, retain: false, dup: false } as Packet)
  await node.app.waitForLog((l) => l.msg === 'test: QoS 2 publish held before enqueue')
  await meanwhile(node)
  await node.app.stop('SIGKILL')
}

/** what the persistent subscriber gets on HELD after the restart: sensor-2's marker is queued after it */
async function heldDelivered (node: Node): Promise<string[]> {
  const sub = await client(node, 'dashboard', { clientId: 'reader', clean: false })
  const marker = await client(node, 'sensor-2')
  await publish(marker, 'sensors/sensor-2/marker', 'marker', { qos: 2 })
  await sub.waitFor((m) => m.topic === 'sensors/sensor-2/marker')
  return sub.messages.filter((m) => m.topic === HELD).map((m) => m.payload)
}

const publishAudit = (reason: string) => (l: Record<string, unknown>): boolean =>
  l.msg === `denied publish: ${reason}` && (l.audit as { clientId?: string } | undefined)?.clientId === 'device-1'

describe('a QoS 2 message stored but not published when the broker died', () => {
  it('is refused and audited at the restart when its publisher lost the topic meanwhile', async () => {
    await crashWithStoredPublish(async (node) => {
      expect(await api(node, 'PATCH', `/api/v1/topics/${encodeURIComponent('sensors/sensor-1/#')}`, { owners: ['sensor-2'] })).toBe(200)
    })
    const again = await startNode(false)
    expect(await heldDelivered(again)).toEqual([])
    const line = await again.app.waitForLog(publishAudit('not-owner'))
    expect(line.audit).toMatchObject({ kind: 'publish', username: 'sensor-1', topic: HELD, filter: 'sensors/sensor-1/#' })
  })

  it('is published at the restart when its publisher still owns the topic', async () => {
    await crashWithStoredPublish(async () => {})
    const again = await startNode(false)
    expect(await heldDelivered(again)).toEqual(['stored'])
  })
})
