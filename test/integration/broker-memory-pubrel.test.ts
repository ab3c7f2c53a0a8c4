// The in-memory store lost QoS 2 messages replayed to a persistent subscriber in a burst (memory-pubrel.ts).
import { afterEach, expect, it } from 'vitest'
import { startBroker, type TestBroker } from '../helpers/broker.js'
import { payloads, publishStream, receivedTogether, tally } from '../helpers/groups.js'
import { connect, subscribe, type TestClient } from '../helpers/mqtt.js'

const brokers: TestBroker[] = []
const clients: TestClient[] = []

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.end()))
  for (const b of brokers.splice(0)) await b.close()
})

it('replays 100 queued QoS 2 messages to a persistent subscriber, each once (persistence: memory)', async () => {
  const b = await startBroker({ config: { persistence: 'memory' } })
  brokers.push(b)
  const opts = { clientId: 'burst-durable', clean: false }
  const s = await connect(b.url, 'dashboard', opts)
  await subscribe(s, 'sensors/#', 2)
  await s.end()
  const pub = await connect(b.url, 'sensor-1')
  clients.push(pub)
  await publishStream(pub, 'sensors/sensor-1/t', 100, 2)
  const back = await connect(b.url, 'dashboard', opts)
  clients.push(back)
  await receivedTogether([back], 100)
  expect(tally([back], payloads(100))).toMatchObject({ missing: [], duplicates: 0 })
})
