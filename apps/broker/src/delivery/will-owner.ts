// Wills outlive their clients: aedes stores each will and, when its broker process died (SIGKILL, a dead
// cluster worker), another process or the restarted one publishes it later with no client. Who set the will
// is stored inside it (both durable stores msgpack the whole packet, so it survives the crash with it), and
// a will published later is judged against that account and the registry of that moment.
import { Readable } from 'node:stream'
import type { PublishPacket } from 'aedes'
import type { Account } from '../auth/user-directory.js'
import type { OwnershipPolicy } from '../policy/ownership.js'
import { fn, patch } from '../aedes/patch.js'
import type { AedesStore } from '../aedes/store.js'
import { decideRecordedOwner, recordOwner, type LaterDecision, type RecordedOwner } from './recorded-owner.js'

/** the packet field holding the owner; a client cannot set it (the CONNECT parser makes the will object) */
const OWNER_FIELD = 'wardenOwner'
/** marks a will read back from the store: judged by its recorded owner, whoever holds its client id now */
const STORED = Symbol('warden.storedWill')

type OwnedWill = PublishPacket & { [OWNER_FIELD]?: RecordedOwner, [STORED]?: true, clientId?: string }

/** Records the account that set `will` (anonymous clients: none, so their will dies with the process). */
export function recordWillOwner (will: PublishPacket, account: Account | undefined): void {
  const w = will as OwnedWill
  if (account === undefined) { delete w[OWNER_FIELD]; return }
  w[OWNER_FIELD] = recordOwner(account)
}

export function isStoredWill (packet: PublishPacket): boolean {
  return (packet as OwnedWill)[STORED] === true
}

/** Tags every will the store streams back (aedes publishes them with the client connected under that id, if any). */
export function markStoredWills (store: AedesStore): void {
  patch(store, 'streamWill', fn(1), (stream) => (brokers) => Readable.from((async function * () {
    for await (const will of stream(brokers)) { (will as typeof will & { [STORED]?: true })[STORED] = true; yield will }
  })()), 'aedes publishes a dead broker\'s stored wills with the client now under that id, if any', 'persistence')
}

/** May the will be published now, its client gone? Its owner must still exist and own its topic. */
export function decideLaterWill (
  packet: PublishPacket, accounts: ReadonlyMap<string, Account>, ownership: OwnershipPolicy
): { decision: LaterDecision, username: string | undefined } {
  const w = packet as OwnedWill
  return decideRecordedOwner(w[OWNER_FIELD], packet.topic, w.clientId ?? '', accounts, ownership, 'will')
}
