// A subscriber that leaves nearly every packet id unacknowledged must not make each delivery to it cost the broker a
// search of them all. aedes/packet-ids.ts gives a connection only ids its session does not hold; the free one was
// found by looking at the ids one by one from the counter on. A clean MQTT 3.1.1 session has no window on what it
// leaves unacknowledged (only a persistent one's queue is bounded, and an MQTT 5 client's Receive Maximum may be
// 65535): an observer reading the devices' topics that acknowledges none of its first 65534 messages, then each
// one as it comes, frees one id ahead of the next delivery, so that every delivery looked at ~65534 held ids first
// (~0.9 ms of the broker's one thread each: a thousand messages a second to it took a core; red team round 14).
import { once } from 'node:events'
import type { Packet } from 'mqtt-packet'
import { expect, it } from 'vitest'
import { connectPacket, encode, rawClient, type RawClient } from '../helpers/raw-mqtt.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
const HELD = 65534

/** packets of each command `c` has had, counted as they come (the reader gets ~66000: no scan of them all per look) */
const counted = new WeakMap<RawClient, { upTo: number, n: Map<string, number>, lastId: number }>()
function tally (c: RawClient): { n: Map<string, number>, lastId: number } {
  let t = counted.get(c)
  if (t === undefined) counted.set(c, t = { upTo: 0, n: new Map(), lastId: 0 })
  for (; t.upTo < c.packets.length; t.upTo++) {
    const p = c.packets[t.upTo] as Packet & { messageId?: number }
    t.n.set(p.cmd, (t.n.get(p.cmd) ?? 0) + 1)
    if (p.cmd === 'publish') t.lastId = p.messageId ?? 0
  }
  return t
}
const countOf = (c: RawClient, cmd: string): number => tally(c).n.get(cmd) ?? 0

/** resolves once `c` has had `n` packets of `cmd` */
async function untilCount (c: RawClient, cmd: string, n: number): Promise<void> {
  while (countOf(c, cmd) < n) {
    if (c.isClosed) throw new Error(`closed with ${countOf(c, cmd)} of ${n} ${cmd}`)
    await Promise.race([once(c.socket, 'data'), c.closed()])
  }
}

async function connected (username: string, clientId: string): Promise<RawClient> {
  const c = scope.track(await rawClient(scope.tb.port))
  c.send(connectPacket(username, clientId))
  expect(await c.next('connack')).toMatchObject({ returnCode: 0 })
  return c
}

/** QoS 1 publishes number `from` on, each under its own packet id */
const publishes = (from: number, n: number): Buffer => Buffer.concat(Array.from({ length: n }, (_, i) => encode({
  cmd: 'publish', topic: 'sensors/sensor-1/t', qos: 1, messageId: ((from + i) % 65535) + 1, retain: false, dup: false, payload: Buffer.from('p')
} as Packet)))

const READERS = 4

it('a delivery to a subscriber holding 65534 unacknowledged ids costs about what one to a subscriber holding none does', async () => {
  // the publish rate is off only to fill the readers quickly (at the default 1000/s per connection: a minute)
  await scope.start({ config: { persistence: 'memory', limits: { publishRate: { perSecond: 0 } } } })
  const readers: RawClient[] = []
  for (let r = 0; r < READERS; r++) {
    const reader = await connected('observer', `reader-${r}`)
    reader.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/sensor-1/#', qos: 1 }] } as Packet)
    await reader.next('suback')
    readers.push(reader)
  }
  const device = await connected('sensor-1', 'device')
  let sent = 0
  /** the packet id of each message a reader got in the last lockstep */
  let given: number[][] = []

  /** `n` messages one at a time, each acknowledged by every reader before the next is published; the process's CPU time */
  const lockstep = async (n: number): Promise<number> => {
    given = readers.map(() => [])
    const start = process.cpuUsage()
    for (let i = 0; i < n; i++) {
      const got = readers.map((r) => countOf(r, 'publish'))
      device.send(publishes(sent++, 1))
      await Promise.all(readers.map(async (reader, r) => {
        await untilCount(reader, 'publish', (got[r] as number) + 1)
        const pongs = countOf(reader, 'pingresp')
        const messageId = tally(reader).lastId
        given[r]?.push(messageId)
        // the PINGRESP comes once the PUBACK before it is handled
        reader.send(Buffer.concat([encode({ cmd: 'puback', messageId } as Packet), encode({ cmd: 'pingreq' } as Packet)]))
        await untilCount(reader, 'pingresp', pongs + 1)
      }))
    }
    const used = process.cpuUsage(start)
    return (used.user + used.system) / 1000
  }

  const N = 300
  await lockstep(50) // warm
  const none = await lockstep(N)
  // the readers acknowledge none of the next HELD
  const before = readers.map((r) => countOf(r, 'publish'))
  for (let left = HELD; left > 0; left -= 2000) {
    const n = Math.min(2000, left)
    device.send(publishes(sent, n))
    sent += n
    await untilCount(device, 'puback', sent)
  }
  await Promise.all(readers.map((r, i) => untilCount(r, 'publish', (before[i] as number) + HELD)))
  const held = await lockstep(N)
  console.log(`CPU for ${N} messages to ${READERS} readers: ${none.toFixed(0)} ms holding none, ${held.toFixed(0)} ms holding ${HELD} ids each`)
  expect(readers.every((r) => !r.isClosed)).toBe(true)
  // and each went under the one id its reader had free, never one of those it holds
  readers.forEach((reader, r) => {
    const unacknowledged = new Set(reader.packets.filter((p) => p.cmd === 'publish').slice(before[r], (before[r] as number) + HELD)
      .map((p) => (p as { messageId: number }).messageId))
    expect(unacknowledged.size).toBe(HELD)
    expect(given[r]?.filter((id) => unacknowledged.has(id))).toEqual([])
  })
  expect(held).toBeLessThan(2 * none)
}, 120_000)
