// Cluster mode: a client id's binding lives in Redis, so it holds on every broker process.
import { describe, expect, it } from 'vitest'
import { PASSWORD } from '../helpers/broker.js'
import { useCluster, type BrokerNode } from '../helpers/cluster.js'
import { connackCode, publish, subscribe } from '../helpers/mqtt.js'
import { useScope } from '../helpers/scope.js'

const { startNode } = useCluster('warden-client-id-')
const scope = useScope()
const intruder = (node: BrokerNode, clientId: string, clean: boolean): Promise<number> =>
  connackCode(node.url, { username: 'sensor-2', password: PASSWORD, clientId, clean })

describe('client id binding across broker processes', () => {
  it('refuses another account on another process while the owner is connected, and while it is offline', async () => {
    const [a, b] = await Promise.all([startNode(), startNode()])
    const watcher = await scope.client('dashboard', {}, a)
    await subscribe(watcher, 'sensors/#', 1)
    const owner = await scope.client('sensor-1', {
      clientId: 'dev-c',
      clean: false,
      will: { topic: 'sensors/sensor-1/status', payload: Buffer.from('offline'), qos: 1, retain: true }
    }, a)
    await subscribe(owner, 'devices/sensor-1/cmd/#', 1)
    expect(await intruder(b, 'dev-c', false)).toBe(2)
    expect(await intruder(b, 'dev-c', true)).toBe(2)
    await publish(owner, 'sensors/sensor-1/status', 'still-here', { qos: 1 })
    await watcher.waitFor((m) => m.payload === 'still-here')

    await owner.end()
    const admin = await scope.client('admin', {}, b)
    for (const n of [1, 2, 3]) await publish(admin, `devices/sensor-1/cmd/${n}`, `c${n}`, { qos: 1 })
    expect(await intruder(b, 'dev-c', false)).toBe(2)
    const back = await scope.client('sensor-1', { clientId: 'dev-c', clean: false }, b)
    await back.waitFor((m) => m.payload === 'c3')
    expect(back.messages.map((m) => m.payload).sort()).toEqual(['c1', 'c2', 'c3'])
    expect(watcher.messages.map((m) => m.payload)).toEqual(['still-here'])
  })
})
