// Cluster mode: each surviving process sweeps a dead one's stored wills (aedes 2.0.0-beta.1's _clearWills, every
// four heartbeats). Two survivors published the same will (seen once, in will-takeover-cluster during a full run on
// a loaded machine: the sweeps overlap only when publishing is slow). On Redis the will now goes to the process that
// claims it first (delivery/will-sweep.ts). This checks every will arrives once with two survivors; on an idle
// machine it passed without the claim too (2 of 2), so it guards against loss and gross duplication, not the race.
import { describe, expect, it } from 'vitest'
import { useCluster } from '../helpers/cluster.js'
import { publish, type TestClient } from '../helpers/mqtt.js'
import { connect5, subscribe5 } from '../helpers/mqtt5.js'
import { useScope } from '../helpers/scope.js'

const { startNode } = useCluster('warden-will-sweep-', { limits: { heartbeatIntervalMs: 200 } })
const scope = useScope()

const DEVICES = 30

describe('a killed process\'s wills, with two processes left', () => {
  it('are each published once', async () => {
    const [a, b, c] = await Promise.all([startNode(), startNode(), startNode()])
    const watcher = await connect5(scope, c.url, 'observer')
    await subscribe5(watcher, 'sensors/+/status', { qos: 1 })
    for (let i = 0; i < DEVICES; i++) {
      await scope.client(`sensor-${(i % 2) + 1}`, {
        clientId: `sweep-${i}`, will: { topic: `sensors/sensor-${(i % 2) + 1}/status`, payload: Buffer.from(`gone-${i}`), qos: 1, retain: false }
      }, b)
    }
    await b.app.stop('SIGKILL')
    await watcher.next((m) => watcher.got.filter((g) => g.payload.toString().startsWith('gone-')).length >= DEVICES && m !== undefined)
    // a message published after the sweeps: everything before it has come
    const late: TestClient = await scope.client('sensor-1', {}, a)
    await publish(late, 'sensors/sensor-1/status', 'marker', { qos: 1 })
    await watcher.next((m) => m.payload.toString() === 'marker')
    // two more sweeps of each survivor, for a late second copy
    await new Promise((resolve) => setTimeout(resolve, 8 * 200))
    await publish(late, 'sensors/sensor-1/status', 'marker-2', { qos: 1 })
    await watcher.next((m) => m.payload.toString() === 'marker-2')
    const wills = watcher.got.map((m) => m.payload.toString()).filter((p) => p.startsWith('gone-')).sort()
    expect(wills).toEqual(Array.from({ length: DEVICES }, (_, i) => `gone-${i}`).sort())
  })
})
