// A PUBLISH read back from a session's queue with a packet id was sent before (a packet id is given to a
// queued message only as it is sent): aedes sends it again with the DUP flag it had when first sent, 0, where
// MQTT-3.3.1-1 asks for 1 on a re-delivery. A receiver keeps the DUP flag as a hint only, but it is what tells
// it that the same packet id is the same message on purpose. A PUBREL has no DUP flag. The exception: a message
// given its id and then held back unsent by the outbound window until its connection closed (aedes/never-sent.ts)
// is a first delivery, DUP 0 (a receiver that drops DUP messages it has not seen would lose it).
import { Readable } from 'node:stream'
import { neverSentOf, trackNeverSent } from '../aedes/never-sent.js'
import { fn, patch } from '../aedes/patch.js'
import { isConnection, type AedesStore, type StoredPacket } from '../aedes/store.js'

const resent = (p: StoredPacket): StoredPacket =>
  p.cmd === 'publish' && p.dup !== true && (p.messageId ?? 0) !== 0 ? { ...p, dup: true } : p

/** `local`: the store is this process's alone (not Redis), so that what it never sent is known here */
export function setDupOnResend (store: AedesStore, local: boolean): void {
  if (local) trackNeverSent(store)
  patch(store, 'outgoingStream', fn(1), (stream) => (client) => {
    const neverSent = neverSentOf(store, client.id, isConnection(client))
    return Readable.from((async function * () {
      for await (const p of stream(client)) yield neverSent(p) ? p : resent(p)
    })())
  }, 'aedes sends a queued PUBLISH it had sent before again with DUP 0 (MQTT-3.3.1-1)', 'persistence')
}
