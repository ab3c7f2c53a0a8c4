// aedes 1.2 stores a QoS>0 message for persistent sessions before it hands it to subscribers, and drops any
// message whose broker counter is lower than the last one a client got ("dedupe"). With a store whose writes
// complete out of order (LevelDB's thread pool), concurrent publishers' messages were reordered and then
// silently dropped for every live subscriber, and a persistent subscriber's messages could leave in the wrong
// order. Warden hands messages over in counter order and keeps each client's store calls in order.
import { beforeEach, expect, it } from 'vitest'
import { publish, subscribe } from '../helpers/mqtt.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
beforeEach(async () => { await scope.start() })

it.each([1, 2] as const)('delivers every QoS %i message of concurrent publishers to live subscribers, persistent ones too', async (qos) => {
  const PER_PUBLISHER = 400
  const durable = await scope.client('dashboard', { clientId: 'order-durable', clean: false })
  const live = await scope.client('observer')
  await subscribe(durable, 'sensors/#', qos)
  await subscribe(live, 'sensors/#', qos)
  const pubs = await Promise.all(['sensor-1', 'sensor-2'].map((u) => scope.client(u)))
  // pipelined: every publish is in flight at once, as a busy device fleet does
  await Promise.all(pubs.flatMap((p, i) => Array.from({ length: PER_PUBLISHER }, (_, n) =>
    publish(p, `sensors/sensor-${i + 1}/seq`, String(n), { qos }))))
  const total = PER_PUBLISHER * pubs.length
  await Promise.all(pubs.map((_, i) => Promise.all([durable, live].map((c) =>
    c.waitFor((m) => m.topic === `sensors/sensor-${i + 1}/seq` && m.payload === String(PER_PUBLISHER - 1))))))
  // the last message of each publisher arrived; everything before it must have too, once, in order
  for (const c of [durable, live]) {
    expect(c.messages.length).toBe(total)
    for (let i = 1; i <= pubs.length; i++) {
      const seq = c.messages.filter((m) => m.topic === `sensors/sensor-${i}/seq`).map((m) => Number(m.payload))
      expect(seq).toEqual([...Array(PER_PUBLISHER).keys()])
    }
  }
})
