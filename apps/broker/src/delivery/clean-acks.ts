// Answers a clean session's PUBACK/PUBCOMP without the store when the store cannot know its packet id.
//
// aedes 1.2 asks the store to clear the packet id of every PUBACK and PUBCOMP, clean sessions included, but
// records packet ids (outgoingUpdate) only for persistent sessions: for a clean one the store looks the id
// up, finds nothing and answers nothing. Through the store wrappers and the Redis store's id cache that was
// 4% of a cluster worker's CPU at QoS 1. A clean client's id is passed on only when outgoingUpdate recorded
// it on this connection (aedes does when it empties a queue left over from an earlier session), and every id
// of a connection aedes saw as persistent until its close (aedes/resume-queue.ts): what that one left
// unacknowledged is cleared when its session ends with it.

import { storedWhileConnected } from '../aedes/accessors.js'
import { fn, patch } from '../aedes/patch.js'
import type { AedesStore, Session } from '../aedes/store.js'

const NOTHING = Promise.resolve(undefined)

/** install after every other wrapper of outgoingClearMessageId: it skips them too */
export function skipCleanSessionAcks (store: AedesStore): void {
  /** packet ids recorded for clean sessions' connections (aedes clients; the store's pseudo sessions have no `clean`) */
  const recorded = new WeakMap<Session, Set<number>>()

  patch(store, 'outgoingUpdate', fn(3), (update) => (client, packet) => {
    if (client.clean === true && packet.messageId !== undefined) {
      let ids = recorded.get(client)
      if (ids === undefined) { ids = new Set(); recorded.set(client, ids) }
      ids.add(packet.messageId)
    }
    return update(client, packet)
  }, 'aedes records packet ids only for persistent sessions', 'persistence')

  patch(store, 'outgoingClearMessageId', fn(3), (clear) => (client, packet) => {
    if (client.clean === true && recorded.get(client)?.delete(packet.messageId ?? -1) !== true && !storedWhileConnected(client)) return NOTHING
    return clear(client, packet)
  }, 'aedes asks the store to clear ids of clean sessions it never recorded', 'persistence')
}
