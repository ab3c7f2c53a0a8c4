// Sits in front of aedes's publish: refused messages never pass, QoS 1 messages are stored before their
// PUBACK, messages reach subscribers in the order aedes numbered them, and shutdown can wait for publishes
// still under way before it closes the store.
import type { Aedes, Client, PublishPacket } from 'aedes'
import { busOf, packetCounter, takePacketNumber } from '../aedes/accessors.js'
import { brokerInternals, type Done } from '../aedes/internals.js'
import { fn, patch } from '../aedes/patch.js'
import { takeEmitFailure } from './emit-failure.js'

type PublishFn = (packet: PublishPacket, client: Client | null, done?: Done) => void
interface EmittedPacket { brokerId?: string, brokerCounter?: number }

export interface PublishGate {
  /** wraps aedes's publish and its bus's emit (broker/patches.ts) */
  install (broker: Aedes): void
  /** a publish refused in `drop` mode: its QoS flow completes, the message goes nowhere */
  drop (packet: object): void
  /**
   * aedes 1.2 writes a QoS 1 PUBACK before it publishes (stores) the message, so a crash in between loses an
   * acknowledged message. Publishing from authorizePublish, before the PUBACK, closes that window; aedes's own
   * publish call afterwards is then skipped.
   */
  publishBeforeAck (packet: PublishPacket, client: Client, cb: Done): void
  /**
   * Takes the next message number now, for a message published later (an incoming QoS 2 message is numbered
   * when it is first stored, see qos2-guard.ts), so that its delivery keeps its place in the order. A number
   * taken must reach subscribers or be given back with `release`, or every later delivery waits for it.
   */
  reserve (): number
  release (n: number): void
  /** resolves when no publish is under way any more, or after `timeoutMs` */
  settled (timeoutMs: number): Promise<void>
  readonly inFlight: number
}

/**
 * Marks a packet published before its PUBACK. A property rather than a WeakSet entry: one is added per QoS 1
 * message, and WeakSet insertion was 4% of the broker's CPU at QoS 1.
 */
const PUBLISHED = Symbol('warden.publishedBeforeAck')
interface Marked { [PUBLISHED]?: true }

export function createPublishGate (): PublishGate {
  const dropped = new WeakSet<object>()
  let order: EmitOrder | undefined
  let inFlight = 0
  let onIdle: (() => void) | null = null

  let original: PublishFn = () => {}
  const tracked: PublishFn = (packet, client, cb) => {
    inFlight++
    let n = 0
    const o = order as EmitOrder // installed before any client can publish
    n = o.run(() => original(packet, client, (err) => {
      o.release(n)
      inFlight--
      if (inFlight === 0 && onIdle !== null) onIdle()
      cb?.(err)
    }))
  }

  const publishBeforeAck: PublishGate['publishBeforeAck'] = (packet, client, cb) => {
    tracked(packet, client, (err) => {
      if (err === undefined || err === null) (packet as Marked)[PUBLISHED] = true
      cb(err)
    })
  }

  return {
    install (broker) {
      order = createEmitOrder(broker)
      patch(brokerInternals(broker), 'publish', fn(3), (publish) => {
        original = publish
        return function gatedPublish (packet: PublishPacket, client: Client | null | Done, cb?: Done): void {
          if (typeof client === 'function') { cb = client; client = null }
          if ((packet as Marked)[PUBLISHED] === true || dropped.has(packet)) {
            if (cb !== undefined) process.nextTick(cb)
            return
          }
          tracked(packet, client, cb)
        }
      }, 'aedes writes a QoS 1 PUBACK before it stores the message; refused publishes must go nowhere', 'broker')
    },
    get inFlight () { return inFlight },
    drop (packet) { dropped.add(packet) },
    reserve: () => (order as EmitOrder).reserve(),
    release: (n) => (order as EmitOrder).release(n),
    publishBeforeAck,
    settled (timeoutMs) {
      if (inFlight === 0) return Promise.resolve()
      return new Promise((resolve) => {
        const timer = setTimeout(() => { onIdle = null; resolve() }, timeoutMs)
        onIdle = () => { clearTimeout(timer); onIdle = null; resolve() }
      })
    }
  }
}

interface Pending { packet: EmittedPacket | null, cb: Done | null }

/**
 * aedes numbers each message (brokerCounter) when publish starts, stores QoS>0 messages for persistent
 * sessions, and only then hands them to subscribers; each client drops a message whose number is below the
 * last it got (its de-duplication of overlapping subscriptions). When the store completes writes out of
 * order (LevelDB works in a thread pool), messages of concurrent publishers were reordered and silently
 * lost for every live subscriber. forward-dedupe.ts now stops the loss; this keeps the order (MQTT 3.1.1 4.6):
 * each message waits until every lower-numbered one still under way has been handed over (or has failed).
 */
interface EmitOrder {
  /** runs a publish and returns the number aedes gave it */
  run (publish: () => void): number
  /** the publish numbered `n` finished: if it never reached subscribers (an error), stop waiting for it */
  release (n: number): void
  /** numbers a message now that is published later */
  reserve (): number
}

function createEmitOrder (broker: Aedes): EmitOrder {
  let emit: (packet: object, cb: Done) => void = () => {}
  // numbers of publishes under way, ascending (Map keeps insertion order), with a held-back emit if any
  const pending = new Map<number, Pending>()

  const flush = (): void => {
    for (const [n, p] of pending) {
      if (p.packet === null || p.cb === null) return
      pending.delete(n)
      emit(p.packet, p.cb)
    }
  }

  patch(busOf(broker), 'emit', fn(2), (original) => {
    // a listener that could not keep its part (a consumer group's queue) fails the publish (emit-failure.ts)
    emit = (packet, cb) => original(packet, (err?: Error | null) => cb(err ?? takeEmitFailure(packet) ?? null))
    return function orderedEmit (packet: EmittedPacket, cb: Done): void {
      const n = packet.brokerCounter ?? -1
      const p = packet.brokerId === broker.id ? pending.get(n) : undefined
      if (p === undefined) { emit(packet, cb); return } // another broker's message, or one not numbered by the gate
      const first: number | undefined = pending.keys().next().value
      if (first === n) {
        pending.delete(n)
        emit(packet, cb)
        flush()
        return
      }
      p.packet = packet
      p.cb = cb
    }
  }, 'aedes hands messages to subscribers in the order their store writes complete, not their numbers (MQTT 3.1.1 4.6)', 'mq')

  return {
    run (publish) {
      // aedes numbers the message synchronously inside publish(): it will get counter + 1
      const n = packetCounter(broker) + 1
      pending.set(n, { packet: null, cb: null })
      publish()
      if (packetCounter(broker) < n) {
        // refused before it was numbered (e.g. too many topic levels): nothing to wait for
        pending.delete(n)
        flush()
      }
      return n
    },
    reserve () {
      const n = takePacketNumber(broker)
      pending.set(n, { packet: null, cb: null })
      return n
    },
    release (n) {
      const p = pending.get(n)
      if (p !== undefined && p.packet === null) {
        pending.delete(n)
        flush()
      }
    }
  }
}
