// A dead broker's will is published once, however slow its publication.
//
// aedes 2.0.0-beta.1 (aedes.js, _clearWills) sweeps the stored wills of dead brokers on a setInterval of four
// heartbeats, and each sweep publishes a will and only then deletes it. A sweep slower than that interval —
// a QoS 1 will queued for persistent subscribers on a busy machine — overlaps the next one, which streams the
// same will again and publishes it a second time (seen in the upgrade test under load). So a will handed to
// a sweep is held back from the following sweeps until it is deleted, or for at most HOLD_MS should its
// publication have failed (then a later sweep tries it again, as aedes would).
// In a cluster every surviving process sweeps a dead one's wills, and two of them published the same will (seen
// with three processes, one killed): on Redis a will is published by the process that claims it first
// (`claimOnce`, a key that lasts HOLD_MS); the others leave it, and take it up only if it is still stored once
// the claim has lapsed (its claimer died before publishing it).
import { Readable } from 'node:stream'
import { fn, patch } from '../aedes/patch.js'
import type { AedesStore } from '../aedes/store.js'

export const HOLD_MS = 60_000

const keyOf = (clientId: unknown, brokerId: unknown): string => `${String(brokerId)}\u0000${String(clientId)}`

export function oneSweepPerWill (
  store: AedesStore, claimOnce?: (key: string, ms: number) => Promise<boolean>, now: () => number = Date.now
): void {
  /** wills handed to a sweep and not deleted yet: when */
  const sweeping = new Map<string, number>()
  patch(store, 'streamWill', fn(1), (stream) => (brokers) => Readable.from((async function * () {
    for await (const will of stream(brokers)) {
      const key = keyOf(will.clientId, will.brokerId)
      const since = sweeping.get(key)
      if (since !== undefined && now() - since < HOLD_MS) continue
      sweeping.set(key, now())
      if (claimOnce !== undefined) {
        let mine = false
        try {
          mine = await claimOnce(`will:${key}`, HOLD_MS)
        } catch {
          sweeping.delete(key) // Redis away: the next sweep asks again
          continue
        }
        // another process publishes it; held back here as if swept (a will still stored once the claim lapsed is
        // taken up then)
        if (!mine) continue
      }
      yield will
    }
  })()), 'aedes\'s will sweeps overlap when one is slow, and publish a dead broker\'s will twice', 'persistence')
  patch(store, 'delWill', fn(2), (del) => async (client) => {
    try {
      return await del(client)
    } finally {
      sweeping.delete(keyOf(client.id, client.brokerId))
    }
  }, 'aedes\'s will sweeps overlap when one is slow, and publish a dead broker\'s will twice', 'persistence')
}
