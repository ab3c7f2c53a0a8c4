// Sits in front of aedes's publish: refused messages never pass, QoS 1 messages are stored before their
// PUBACK, and shutdown can wait for publishes still under way before it closes the store.
import type { Aedes, Client, PublishPacket } from 'aedes'

type Done = (err?: Error) => void
type PublishFn = (packet: PublishPacket, client: Client | null, done?: Done) => void

export interface PublishGate {
  /** a publish refused in `drop` mode: its QoS flow completes, the message goes nowhere */
  drop (packet: object): void
  /**
   * aedes 1.2 writes a QoS 1 PUBACK before it publishes (stores) the message, so a crash in between loses an
   * acknowledged message. Publishing from authorizePublish, before the PUBACK, closes that window; aedes's own
   * publish call afterwards is then skipped.
   */
  publishBeforeAck (packet: PublishPacket, client: Client, cb: Done): void
  /** resolves when no publish is under way any more, or after `timeoutMs` */
  settled (timeoutMs: number): Promise<void>
  readonly inFlight: number
}

export function installPublishGate (broker: Aedes): PublishGate {
  const b = broker as unknown as { publish: PublishFn }
  const original = b.publish.bind(broker)
  const dropped = new WeakSet<object>()
  const done = new WeakSet<object>()
  let inFlight = 0
  let onIdle: (() => void) | null = null

  const tracked: PublishFn = (packet, client, cb) => {
    inFlight++
    original(packet, client, (err) => {
      inFlight--
      if (inFlight === 0 && onIdle !== null) onIdle()
      cb?.(err)
    })
  }

  b.publish = function gatedPublish (packet: PublishPacket, client: Client | null | Done, cb?: Done): void {
    if (typeof client === 'function') { cb = client; client = null }
    if (dropped.has(packet) || done.has(packet)) {
      if (cb !== undefined) process.nextTick(cb)
      return
    }
    tracked(packet, client, cb)
  }

  return {
    get inFlight () { return inFlight },
    drop (packet) { dropped.add(packet) },
    publishBeforeAck (packet, client, cb) {
      tracked(packet, client, (err) => {
        if (err === undefined || err === null) done.add(packet)
        cb(err)
      })
    },
    settled (timeoutMs) {
      if (inFlight === 0) return Promise.resolve()
      return new Promise((resolve) => {
        const timer = setTimeout(() => { onIdle = null; resolve() }, timeoutMs)
        onIdle = () => { clearTimeout(timer); onIdle = null; resolve() }
      })
    }
  }
}
