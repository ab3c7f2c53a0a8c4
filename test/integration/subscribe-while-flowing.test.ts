// A persistent subscriber subscribing while messages flow on its topic: a message published just before the
// subscription is stored is matched to no queue of the client, yet its live delivery can reach the client once
// its live subscription has started. The level store has no queue entry to record its packet id in; the
// broker closed the connection on that (aedes's deliverQoS takes the store's "no such packet" for an error).
// Such a delivery is skipped now: the subscriber stays connected and gets, in order and once each, every
// message published after its SUBACK.
import { once } from 'node:events'
import type { Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { connectPacket, rawClient, rawSession, type RawClient } from '../helpers/raw-mqtt.js'
import { get } from '../helpers/http.js'
import { useSharedRedis } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
const redis = useSharedRedis()

/** messages in flight from the publisher: one more is sent for each it completes */
const IN_FLIGHT = 20
const ROUNDS = 60
/** messages published after the SUBACK each round's subscriber waits for */
const AFTER = 3

type Pub = Packet & { messageId: number, payload: Buffer, qos: number }

/**
 * a publisher streaming `sensors/sensor-1/t` at `qos`, payloads numbered from 1; `sent()`: the last number sent. With a
 * persistent session, its QoS 2 packets written before they are published: the level race below was met in 19–57 of
 * the 60 subscribes of a run then; with a clean one (packets kept in memory) in 2–61, and once, under a full run's
 * load, in none (the check that the race was met failed)
 */
async function streaming (port: number, qos: 1 | 2): Promise<{ sent: () => number, stop: () => void, pub: RawClient }> {
  const pub = scope.track(await rawClient(port))
  pub.send(connectPacket('sensor-1', 'dev', { clean: false } as Partial<Packet>))
  await pub.next('connack')
  let seq = 0
  let running = true
  const pump = (): void => {
    if (!running || pub.isClosed) return
    seq++
    const payload = Buffer.from(String(seq))
    pub.send({ cmd: 'publish', topic: 'sensors/sensor-1/t', payload, qos, messageId: (seq % 60000) + 1, retain: false, dup: false } as Packet)
  }
  pub.socket.on('data', () => {
    const got = pub.packets.splice(0)
    for (const p of got) {
      const id = (p as Pub).messageId
      if (p.cmd === 'puback' || p.cmd === 'pubcomp') pump()
      else if (p.cmd === 'pubrec') pub.send({ cmd: 'pubrel', messageId: id } as Packet)
    }
  })
  for (let i = 0; i < IN_FLIGHT; i++) pump()
  return { sent: () => seq, stop: () => { running = false }, pub }
}

interface Round { closed: boolean, seqs: number[], after: number[], boundary: number }

/** one persistent subscriber, new each round: SUBSCRIBE, then every PUBLISH acknowledged until AFTER past the SUBACK */
async function round (port: number, clientId: string, qos: 1 | 2, sent: () => number): Promise<Round> {
  const sub = scope.track(await rawSession(port, 'dashboard', clientId, { clean: false }))
  const seqs: number[] = []
  let boundary = -1
  let read = 0
  const handle = (): void => {
    for (; read < sub.packets.length; read++) {
      const p = sub.packets[read] as Pub
      if (p.cmd === 'suback' && boundary < 0) boundary = sent()
      else if (p.cmd === 'publish') {
        seqs.push(Number(p.payload.toString()))
        sub.send({ cmd: p.qos === 2 ? 'pubrec' : 'puback', messageId: p.messageId } as Packet)
      } else if (p.cmd === 'pubrel') sub.send({ cmd: 'pubcomp', messageId: p.messageId } as Packet)
    }
  }
  sub.socket.on('data', handle)
  sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos }] } as Packet)
  const after = (): number[] => boundary < 0 ? [] : seqs.filter((s) => s > boundary)
  while (!sub.isClosed && after().length < AFTER) {
    await Promise.race([once(sub.socket, 'data'), sub.closed()])
  }
  const closed = sub.isClosed
  sub.destroy()
  return { closed, seqs, after: after().slice(0, AFTER), boundary }
}

const stores: Array<[string, () => Record<string, unknown>]> = [
  ['level', () => ({ persistence: 'level' })],
  ['memory', () => ({ persistence: 'memory' })],
  ['redis', () => ({ persistence: 'redis', redis: { url: redis.url } })]
]

describe.each(stores)('a persistent subscriber subscribing while messages flow (%s)', (name, config) => {
  it.each([1, 2] as const)('at QoS %i: never closed; every message published after its SUBACK, in order, once', async (qos) => {
    const tb = await scope.start({ config: config() })
    const flow = await streaming(tb.port, qos)
    const results: Round[] = []
    try {
      for (let r = 0; r < ROUNDS; r++) results.push(await round(tb.port, `reader-${qos}-${r}`, qos, flow.sent))
    } finally { flow.stop() }
    const closed = results.filter((r) => r.closed).length
    // in order, none twice: each round's numbers rise
    const outOfOrder = results.filter((r) => r.seqs.some((s, i) => i > 0 && s <= (r.seqs[i - 1] ?? 0))).length
    // what was published after the SUBACK arrived, from the first one on, none missing
    const gaps = results.filter((r) => !r.closed && r.after.some((s, i) => s !== r.boundary + 1 + i)).length
    expect({ closed, outOfOrder, gaps, publisherOpen: !flow.pub.isClosed }).toEqual({ closed: 0, outOfOrder: 0, gaps: 0, publisherOpen: true })
    // the deliveries skipped are counted (at QoS 2, about one level subscribe in four met the race; the other stores never
    // met it in these runs)
    if (name === 'level') {
      const metrics = String((await get(tb, '/metrics')).body)
      const unqueued = Number(/^warden_deliveries_unqueued_total (\d+)$/m.exec(metrics)?.[1])
      expect(unqueued).toBeGreaterThanOrEqual(qos === 2 ? 1 : 0)
    }
  }, 120_000)
})
