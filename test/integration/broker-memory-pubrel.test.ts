// The in-memory store lost QoS 2 messages replayed to a persistent subscriber in a burst (memory-pubrel.ts).
import { expect, it } from 'vitest'
import { payloads, publishStream, receivedTogether, tally } from '../helpers/groups.js'
import { subscribe } from '../helpers/mqtt.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()

it('replays 100 queued QoS 2 messages to a persistent subscriber, each once (persistence: memory)', async () => {
  await scope.start({ config: { persistence: 'memory' } })
  const opts = { clientId: 'burst-durable', clean: false }
  const s = await scope.client('dashboard', opts)
  await subscribe(s, 'sensors/#', 2)
  await s.end()
  const pub = await scope.client('sensor-1')
  await publishStream(pub, 'sensors/sensor-1/t', 100, 2)
  const back = await scope.client('dashboard', opts)
  await receivedTogether([back], 100)
  expect(tally([back], payloads(100))).toMatchObject({ missing: [], duplicates: 0 })
})
