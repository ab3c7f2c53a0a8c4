// What one QoS 2 message costs the level store, end to end through the broker: a publisher's
// PUBLISH/PUBREC/PUBREL/PUBCOMP and a persistent subscriber's, one step at a time, counted in group commit's
// write batches and the operations in them (apps/broker/src/store/group-commit.ts). Each batch the message
// waits on is a LevelDB write and a turn of the event loop; see delivery/qos2-guard.ts for what must be on
// disk before which packet goes out, and hardening-crash.test.ts / security-qos2-recovery.test.ts for the
// SIGKILLs that check it.
import type { Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { rawSession } from '../helpers/raw-mqtt.js'
import { oneQos2Message, take } from '../helpers/qos2-steps.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
const TOPIC = 'sensors/sensor-1/qos2'

interface Counts { batches: number, ops: number }

/** the broker's group-commit counters now */
function counts (): Counts {
  const c = scope.tb.broker.commits
  if (c === undefined) throw new Error('no level store')
  return { batches: c.batches, ops: c.ops }
}

describe('a QoS 2 message to a persistent subscriber on the level store', () => {
  // a publisher whose session outlives its connection: its incoming packet is written with the queue entries, and
  // removed on PUBREL; one whose session ends with its connection: its incoming packet stays in memory
  it.each([
    { publisher: 'persistent', clean: false, cost: { batches: 4, ops: 5 } },
    { publisher: 'clean-session', clean: true, cost: { batches: 3, ops: 3 } }
  ])('costs $cost.batches write batches and $cost.ops operations from a $publisher publisher when nothing else shares them ' +
    '(its packet id goes in its queue entry)', async ({ clean, cost }) => {
    const tb = await scope.start()
    const reader = scope.track(await rawSession(tb.port, 'dashboard', 'reader', { clean: false }))
    reader.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos: 2 }] } as Packet)
    await take(reader, 'suback')
    const device = scope.track(await rawSession(tb.port, 'sensor-1', 'device-1', { clean }))
    // the first message settles what is written once (the session's first queue entry, ...)
    await oneQos2Message(device, reader, TOPIC, 0)
    const N = 20
    const before = counts()
    for (let n = 1; n <= N; n++) await oneQos2Message(device, reader, TOPIC, n)
    const after = counts()
    const perMessage = { batches: (after.batches - before.batches) / N, ops: (after.ops - before.ops) / N }
    expect(perMessage).toEqual(cost)
  })
})
