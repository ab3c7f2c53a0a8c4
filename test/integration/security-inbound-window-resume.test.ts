// limits.maxInflightInbound bounds the QoS 2 messages a client may leave stored awaiting PUBREL (aedes/inbound-window.ts,
// GHSA-5jvp-3p2v-5qgf). It was counted per connection, from nothing at each CONNECT: the ones a persistent session's
// earlier connections left stored, which stay with the session, were not counted on its next one, so a device
// reconnecting with Clean Session 0 stored another maxInflightInbound each time (up to 65535 per client id, each up
// to maxPacketBytes: seen 9 stored with a limit of 3 after three connections; red team round 14). A resumed session's
// count now starts from the ids its store holds.
import type { Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import type { TestBroker } from '../helpers/broker.js'
import { connectPacket, rawClient, type RawClient } from '../helpers/raw-mqtt.js'
import { startRedis } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
const LIMIT = 3
const CLIENT_ID = 'unreleased'

async function start (persistence: 'memory' | 'level' | 'redis'): Promise<TestBroker> {
  const config = { persistence, limits: { maxInflightInbound: LIMIT } }
  if (persistence !== 'redis') return await scope.start({ config })
  const redis = await startRedis()
  const started: { tb?: TestBroker } = {}
  scope.defer(async () => { await started.tb?.stop(); await redis.stop() })
  started.tb = await scope.start({ config: { ...config, redis: { url: redis.url } } })
  return started.tb
}

describe.each([[4, 'memory'], [5, 'memory'], [4, 'level'], [5, 'level'], [4, 'redis']] as const)('MQTT %s, %s store', (version, persistence) => {
  it('a persistent session stores no more than maxInflightInbound awaiting PUBREL across its connections', async () => {
    const tb = await start(persistence)
    const resume = async (): Promise<RawClient> => {
      const c = scope.track(await rawClient(tb.port, { protocolVersion: version }))
      c.send(connectPacket('sensor-1', CLIENT_ID, {
        protocolVersion: version, clean: false, ...(version === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {})
      } as Partial<Packet>))
      expect(await c.next('connack')).toMatchObject(version === 5 ? { reasonCode: 0 } : { returnCode: 0 })
      return c
    }
    const publish = (c: RawClient, messageId: number): void => {
      c.send({ cmd: 'publish', topic: 'sensors/sensor-1/t', payload: Buffer.from(`m${messageId}`), qos: 2, messageId, retain: false, dup: false } as Packet)
    }
    const answers = (c: RawClient, cmd: string): number[] => c.packets.filter((p) => p.cmd === cmd).map((p) => (p as { messageId?: number }).messageId ?? 0)
    const until = async (c: RawClient, cmd: string, n: number): Promise<void> => {
      while (answers(c, cmd).length < n) await c.next(cmd).then(() => new Promise((resolve) => setImmediate(resolve)))
    }
    const leave = async (c: RawClient): Promise<void> => { c.send({ cmd: 'disconnect' } as Packet); await c.closed() }

    // the first connection leaves LIMIT stored, unreleased
    const first = await resume()
    for (let id = 1; id <= LIMIT; id++) publish(first, id)
    await until(first, 'pubrec', LIMIT)
    await leave(first)

    // the next one may store no new one before it releases some
    const second = await resume()
    publish(second, LIMIT + 1)
    await Promise.race([second.closed(), second.next('pubrec')])
    expect(answers(second, 'pubrec')).toEqual([])
    await second.closed()
    if (version === 5) expect(second.packets.find((p) => p.cmd === 'disconnect')).toMatchObject({ reasonCode: 0x93 })

    // released, they make room again; a retransmission of a stored one takes none
    const third = await resume()
    publish(third, 1)
    await until(third, 'pubrec', 1)
    for (let id = 1; id <= LIMIT; id++) third.send({ cmd: 'pubrel', messageId: id } as Packet)
    await until(third, 'pubcomp', LIMIT)
    for (let id = LIMIT + 1; id <= 2 * LIMIT; id++) publish(third, id)
    await until(third, 'pubrec', 1 + LIMIT)
    expect(third.isClosed).toBe(false)
    await leave(third)

    const { persistence: store } = tb.broker.aedes as unknown as {
      persistence: { incomingGetPacket (c: { id: string }, p: { messageId: number }): Promise<unknown> }
    }
    const stored: number[] = []
    for (let messageId = 1; messageId <= 2 * LIMIT + 1; messageId++) {
      if (await store.incomingGetPacket({ id: CLIENT_ID }, { messageId }).then(() => true, () => false)) stored.push(messageId)
    }
    expect(stored).toEqual([4, 5, 6])
  })
})
