// The packets of QoS 2's steps share socket writes: aedes writes each PUBREC, PUBREL, PUBCOMP, and each PUBLISH
// sent once its packet id is on disk, from the continuation of its own store call; the continuations of one
// group-commit batch run in one turn, and Warden holds a connection's packets of that turn back until its end
// (aedes/client-internals.ts holdProtocolWrites). Counted here as the system calls (write or writev) the broker
// makes on each connection, for twenty messages whose packets arrive in one read.
import net from 'node:net'
import type { Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { encode, rawSession, type RawClient } from '../helpers/raw-mqtt.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
const N = 20

/** counts the socket writes of this process by the remote port of their socket (the broker's side of a client) */
function countWrites (): Map<number, number> {
  const counts = new Map<number, number>()
  const proto = net.Socket.prototype as unknown as Record<string, (...args: unknown[]) => unknown>
  for (const name of ['_writeGeneric', '_writev']) {
    const own = proto[name] as (...args: unknown[]) => unknown
    proto[name] = function (this: net.Socket, ...args: unknown[]) {
      const port = this.remotePort ?? 0
      counts.set(port, (counts.get(port) ?? 0) + 1)
      return own.apply(this, args)
    }
    scope.defer(() => { proto[name] = own })
  }
  return counts
}

/** resolves once `c` has received `n` packets of `cmd`, and forgets them */
async function takeAll (c: RawClient, cmd: string, n: number): Promise<Packet[]> {
  while (c.packets.filter((p) => p.cmd === cmd).length < n) await new Promise((resolve) => c.socket.once('data', resolve))
  const got = c.packets.filter((p) => p.cmd === cmd)
  for (const p of got) c.packets.splice(c.packets.indexOf(p), 1)
  return got
}

/** sends `packets` in one socket write: the broker reads them together */
const sendTogether = (c: RawClient, packets: Packet[]): void => { c.send(Buffer.concat(packets.map((p) => encode(p)))) }

describe('QoS 2 to a persistent subscriber on the level store', () => {
  it('writes the packets of one step of twenty messages in a few system calls per connection, not one each', async () => {
    const tb = await scope.start()
    const reader = scope.track(await rawSession(tb.port, 'dashboard', 'reader', { clean: false }))
    reader.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos: 2 }] } as Packet)
    await takeAll(reader, 'suback', 1)
    const device = scope.track(await rawSession(tb.port, 'sensor-1', 'device-1'))
    const counts = countWrites()
    const writesTo = (c: RawClient): number => counts.get(c.socket.localPort ?? -1) ?? 0
    const ids = Array.from({ length: N }, (_, i) => i + 1)

    sendTogether(device, ids.map((messageId) => ({
      cmd: 'publish', topic: 'sensors/sensor-1/qos2', payload: Buffer.from(`m${messageId}`), qos: 2, messageId, retain: false, dup: false
    } as Packet)))
    await takeAll(device, 'pubrec', N)
    const delivered = await takeAll(reader, 'publish', N) as Array<Packet & { messageId: number, payload: Buffer }>
    expect(delivered.map((p) => p.payload.toString())).toEqual(ids.map((i) => `m${i}`))
    const pubrecWrites = writesTo(device)
    const publishWrites = writesTo(reader)

    sendTogether(reader, delivered.map((p) => ({ cmd: 'pubrec', messageId: p.messageId } as Packet)))
    await takeAll(reader, 'pubrel', N)
    const pubrelWrites = writesTo(reader) - publishWrites

    sendTogether(device, ids.map((messageId) => ({ cmd: 'pubrel', messageId } as Packet)))
    await takeAll(device, 'pubcomp', N)
    const pubcompWrites = writesTo(device) - pubrecWrites

    sendTogether(reader, [...delivered.map((p) => ({ cmd: 'pubcomp', messageId: p.messageId } as Packet)), { cmd: 'pingreq' } as Packet])
    await takeAll(reader, 'pingresp', 1)

    const writes = { pubrec: pubrecWrites, publish: publishWrites, pubrel: pubrelWrites, pubcomp: pubcompWrites }
    console.log(`socket writes for ${N} messages`, writes)
    // each step's packets come from one or two batch completions (a batch gathers while the one before is written)
    for (const [step, n] of Object.entries(writes)) expect({ step, n: n <= 4 }).toEqual({ step, n: true })
  })
})
