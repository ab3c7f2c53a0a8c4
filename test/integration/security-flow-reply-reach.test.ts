// Flow control and the reply namespace (config `replies`), as a reader of everything would use them: a
// congested subscriber holds only the publishes it would receive, and under `<prefix>/<clientId>/` only that
// client receives, whatever its grants. An observer reading `#` must not hold the responders answering others.
import { expect, it } from 'vitest'
import { baseConfig, fastHash, PASSWORD } from '../helpers/broker.js'
import { maxOf, publishPaced } from '../helpers/flow.js'
import { slowReader } from '../helpers/slow-reader.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
const SIZE = 1024
const N = 150

it('a congested reader of # holds the devices it reads, not the responders answering another client\'s reply topic', async () => {
  const base = await baseConfig()
  const b = await scope.start({
    config: {
      limits: { maxQueuedMessages: 200, flowControl: { maxHoldMs: 3000 } },
      replies: { prefix: 'reply', responders: ['service'] },
      roles: { ...(base.roles as Record<string, unknown>), service: { subscribe: ['requests/#'] } },
      users: [...(base.users as unknown[]), { username: 'svc', passwordHash: await fastHash(PASSWORD), roles: ['service'] }]
    }
  })
  // the observer's grants (#) read everything but the others' reply topics
  const r = await slowReader(b.port, 'observer', 'slow-obs', { filter: '#', qos: 1 }, 48 * 1024)
  scope.defer(() => r.destroy())
  const sensor = await scope.client('sensor-1', { clientId: 'pub-a' })
  const flooding = publishPaced(sensor, 'sensors/sensor-1/a', 'a', N, SIZE)
  while (b.broker.flow.congested().length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
  const heldBefore = b.broker.flow.stats.held
  // answers to req-9, which only req-9 may read: nothing the observer receives
  const svc = await scope.client('svc', { clientId: 'svc-1' })
  const answers = await publishPaced(svc, 'reply/req-9/answer', 'r', 50, SIZE)
  const related = await flooding
  expect(b.broker.flow.stats.held).toBeGreaterThan(heldBefore) // the sensor was held meanwhile
  expect(maxOf(related.waits)).toBeGreaterThanOrEqual(500)
  expect(maxOf(answers.waits)).toBeLessThan(500)
  await r.received(N)
})
