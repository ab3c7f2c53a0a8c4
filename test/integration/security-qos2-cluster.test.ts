// Cluster mode: a QoS 2 message stored (in Redis) by a broker process that died before publishing it is
// published by the process its publisher retransmits it to — only if the account that sent it still owns the
// topic then. A refused retransmission must not let the stored copy through. The crash lands in that window
// every time: a preloaded test module holds the store's queueing of the message (test/helpers/hold-enqueue.mjs).
import { fileURLToPath } from 'node:url'
import type { Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { useCluster, type BrokerNode } from '../helpers/cluster.js'
import { basic } from '../helpers/http.js'
import { publish, subscribe } from '../helpers/mqtt.js'
import { rawSession } from '../helpers/raw-mqtt.js'
import { useScope } from '../helpers/scope.js'

const HELD = 'sensors/sensor-1/held'
const HOLD = fileURLToPath(new URL('../helpers/hold-enqueue.mjs', import.meta.url))
const { startNode } = useCluster('warden-qos2-cluster-')
const scope = useScope()

async function api (node: BrokerNode, method: string, path: string, body?: unknown): Promise<number> {
  const res = await fetch(node.http + path, {
    method,
    headers: { authorization: basic('admin'), 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {})
  })
  await res.text()
  return res.status
}

const PUBLISH = { cmd: 'publish', topic: HELD, payload: Buffer.from('stored'), qos: 2, messageId: 7, retain: false } as const

/**
 * sensor-1's device sends a QoS 2 PUBLISH to node A, which stores it and dies before publishing it
 * (`meanwhile` runs first); the device then sends it again to node B, and completes the flow there.
 * Resolves with what a persistent subscriber gets on HELD (sensor-2's marker is queued after it).
 */
async function retransmitToSurvivor (meanwhile: (b: BrokerNode) => Promise<void>): Promise<{ b: BrokerNode, got: string[] }> {
  const [a, b] = await Promise.all([
    startNode({ NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${HOLD}`, WARDEN_TEST_HOLD_TOPIC: HELD }),
    startNode()
  ])
  const reader = await scope.client('dashboard', { clientId: 'reader', clean: false }, b)
  await subscribe(reader, 'sensors/#', 2)
  await reader.end()
  const first = scope.track(await rawSession(a.port, 'sensor-1', 'device-1', { clean: false }))
  first.send({ ...PUBLISH, dup: false } as Packet)
  await a.app.waitForLog((l) => l.msg === 'test: QoS 2 publish held before enqueue')
  await meanwhile(b)
  await a.app.stop('SIGKILL')
  first.destroy()

  const again = scope.track(await rawSession(b.port, 'sensor-1', 'device-1', { clean: false }))
  again.send({ ...PUBLISH, dup: true } as Packet)
  await again.next('pubrec')
  again.send({ cmd: 'pubrel', messageId: 7 } as Packet)
  await again.next('pubcomp')
  const back = await scope.client('dashboard', { clientId: 'reader', clean: false }, b)
  const marker = await scope.client('sensor-2', {}, b)
  await publish(marker, 'sensors/sensor-2/marker', 'marker', { qos: 2 })
  await back.waitFor((m) => m.topic === 'sensors/sensor-2/marker')
  return { b, got: back.messages.filter((m) => m.topic === HELD).map((m) => m.payload) }
}

describe('a QoS 2 message stored by a dead broker process, sent again to another one', () => {
  it('is not published, and is audited, when its publisher lost the topic meanwhile', async () => {
    const { b, got } = await retransmitToSurvivor(async (node) => {
      expect(await api(node, 'PATCH', `/api/v1/topics/${encodeURIComponent('sensors/sensor-1/#')}`, { owners: ['sensor-2'] })).toBe(200)
    })
    expect(got).toEqual([])
    const line = await b.app.waitForLog((l) => l.msg === 'denied publish: not-owner' &&
      (l.audit as { detail?: string } | undefined)?.detail === 'a QoS 2 message stored before a crash, published later')
    expect(line.audit).toMatchObject({ kind: 'publish', username: 'sensor-1', clientId: 'device-1', topic: HELD })
  })

  it('is published once when its publisher still owns the topic', async () => {
    const { got } = await retransmitToSurvivor(async () => {})
    expect(got).toEqual(['stored'])
  })
})
