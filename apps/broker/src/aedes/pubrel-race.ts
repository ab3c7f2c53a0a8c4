// aedes 2.0.0-beta.1 lost a 1.2.0 fix: it deletes the stored QoS 2 PUBLISH of a PUBREL with
// `incomingDelPacket(...).finally(...)`, so a rejected delete escapes as an unhandled rejection, which ends
// the process. Two PUBRELs of one id in one read both find the packet and the second delete rejects ("no
// such packet"): any client could stop the broker. For aedes's own calls (a live client) Warden settles a
// failed delete quietly: the id is gone either way and aedes still owes the PUBCOMP.
import type { AedesStore, Session } from './store.js'
import { fn, patch } from './patch.js'

const isLiveClient = (s: Session): boolean => 'conn' in s && 'broker' in s

export function settlePubrelDeletes (store: AedesStore): void {
  patch(store, 'incomingDelPacket', fn(3), (del) => (session, packet) => {
    if (!isLiveClient(session)) return del(session, packet)
    return del(session, packet).catch(() => {})
  }, 'aedes 2.0.0-beta.1 lets a rejected incomingDelPacket escape from a .finally() (1.2.0 had fixed it)', 'persistence')
}
