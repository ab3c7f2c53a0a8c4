// A client's QoS 1 PUBLISHes are acknowledged in the order they came (MQTT-4.6.0-2; MQTT 3.1.1 4.6), whichever
// stage answers them. An accepted one is acknowledged once stored (store-before-ack.ts), or later still when flow
// control holds it; a refused one is answered as soon as it is refused. Among the publishes of one read, a
// refusal's PUBACK overtook the accepted ones before it (seen: 2, 4, 1, 3, 5). The answers given to aedes, which
// writes each PUBACK as it is answered, are handed on in the order of the calls.
import { isWillOf } from '../aedes/accessors.js'
import type { HookStage, PublishDone } from './pipeline.js'

/** one QoS 1 publish of a client, answered or not yet */
interface Slot {
  readonly packet: object
  readonly cb: PublishDone
  done: boolean
  err: Error | null | undefined
  /** the PUBACK Warden writes itself for it, written when its turn comes */
  write: (() => void) | undefined
}

/** per client: its QoS 1 publishes whose answers aedes has not been given yet, in the order they came */
const lines = new WeakMap<object, Slot[]>()

/**
 * `write` (the PUBACK of `client`'s `packet`, which aedes will not write) is done in the publish's turn; false if
 * the publish is not one whose answer waits for its turn (then the caller writes it now)
 */
export function answerInTurn (client: object, packet: object, write: () => void): boolean {
  const line = lines.get(client)
  if (line === undefined) return false
  for (const slot of line) {
    if (slot.packet === packet && !slot.done) {
      slot.write = write
      return true
    }
  }
  return false
}

export function ackOrder (): HookStage {
  return {
    name: 'ack-order',
    authorizePublish (client, packet, cb, next) {
      // a will is not acknowledged; QoS 0 has no acknowledgement, QoS 2's PUBREC comes after the publish
      if (packet.qos !== 1 || client === null || isWillOf(client, packet)) { next(client, packet, cb); return }
      let line = lines.get(client)
      if (line === undefined) {
        line = []
        lines.set(client, line)
      }
      const slot: Slot = { packet, cb, done: false, err: undefined, write: undefined }
      line.push(slot)
      const own = line
      next(client, packet, (err) => {
        slot.done = true
        slot.err = err
        if (own[0] !== slot) return // its turn comes when the ones before it are answered
        while (own.length > 0 && (own[0] as Slot).done) {
          const s = own.shift() as Slot
          s.write?.()
          s.cb(s.err)
        }
      })
    }
  }
}
