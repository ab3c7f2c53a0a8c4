// Held writes (aedes/client-internals.ts) against a client that floods and does not read: a flood of PUBRELs
// for packet ids it never used, each answered with a PUBCOMP the broker holds back to the end of the turn.
// A held socket is flushed once 32 KiB were written to it; to a peer that reads nothing the bytes stay
// waiting, and flushing on every write while they did undid every cork on the socket (one per packet written
// that tick) each time: quadratic in the packets of a tick, seconds of the event loop for 50,000 PUBRELs,
// every other client stalled meanwhile. Counted here as the socket's uncork calls, which do not depend on the
// machine's load.
import net from 'node:net'
import type { Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { encode, rawSession } from '../helpers/raw-mqtt.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
const PUBRELS = 50_000

/** counts uncork calls on this process's sockets by their remote port (the broker's side of a client) */
function countUncorks (): Map<number, number> {
  const counts = new Map<number, number>()
  const proto = net.Socket.prototype as unknown as { uncork: (this: net.Socket) => void }
  const own = proto.uncork
  proto.uncork = function (this: net.Socket) {
    const port = this.remotePort ?? 0
    counts.set(port, (counts.get(port) ?? 0) + 1)
    own.call(this)
  }
  scope.defer(() => { proto.uncork = own })
  return counts
}

describe('a PUBREL flood for unknown packet ids from a client that reads nothing', () => {
  it('costs the broker a few socket uncorks per PUBCOMP, not one per packet written that turn', async () => {
    const tb = await scope.start()
    const honest = scope.track(await rawSession(tb.port, 'dashboard', 'honest'))
    const bad = scope.track(await rawSession(tb.port, 'sensor-1', 'flooder'))
    bad.socket.pause()
    const uncorks = countUncorks()
    const chunk = Buffer.concat(Array.from({ length: 10_000 }, (_, i) => encode({ cmd: 'pubrel', messageId: i + 1 } as Packet)))
    for (let i = 0; i < PUBRELS / 10_000; i++) bad.send(chunk)
    bad.send({ cmd: 'pingreq' } as Packet)
    // another client is answered meanwhile
    const pings: number[] = []
    for (let i = 0; i < 10; i++) {
      const t = performance.now()
      honest.packets.length = 0
      honest.send({ cmd: 'pingreq' } as Packet)
      await honest.next('pingresp')
      pings.push(performance.now() - t)
    }
    // every PUBREL answered (a PINGRESP is written without waiting for the store: it may overtake PUBCOMPs)
    bad.socket.resume()
    await bad.next('pingresp')
    const pubcomps = (): number => bad.packets.filter((p) => p.cmd === 'pubcomp').length
    while (pubcomps() < PUBRELS && !bad.isClosed) await new Promise((resolve) => bad.socket.once('data', resolve))
    const n = uncorks.get(bad.socket.localPort ?? -1) ?? 0
    console.log('PUBREL flood', { pubrels: PUBRELS, uncorks: n, perPubrel: n / PUBRELS, honestMaxPingMs: Math.round(Math.max(...pings)) })
    expect(bad.packets.filter((p) => p.cmd === 'pubcomp').length).toBe(PUBRELS)
    expect(n / PUBRELS).toBeLessThan(5)
  })
})
