// Quotas on the retained store, which aedes 1.2 lets grow without limit (150 × 1 MB retained messages grew a
// data dir to 746 MB): per publishing account and in all, in messages and bytes (limits.retained.*).
//
// A retained publish past a quota is handled as EMQX handles its retained-message limit: it is delivered to
// the subscribers connected now, as any message, but not stored as retained (its RETAIN flag is cleared
// before aedes sees it), and audited `publish: retained-quota`. The publisher's right to the topic is not in
// question, only the broker's storage; refusing the message outright would lose live data for a storage
// limit. An empty retained publish (clearing) is always accepted.
//
// Each stored retained message carries its publisher's account (OWNER_FIELD), so that the usage is read
// back from the store at start-up; messages stored before (or wills of a dead broker) count in the totals only.
import type { Client } from 'aedes'
import type { RetainedLimits } from '../config/hardening-schema.js'
import type { HookStage } from '../hooks/pipeline.js'
import { fn, patch } from '../aedes/patch.js'
import type { AedesStore } from '../aedes/store.js'
import { storedBytes } from './queue-bound.js'
import { RetainedUsage, UNKNOWN_OWNER } from './retained-usage.js'

export const OWNER_FIELD = 'wardenOwner'
const ANONYMOUS = '\u0000anonymous' // U+0000 cannot be in a username (packet guard)

export interface RetainedQuotaDeps {
  /** the account a client publishes as (undefined: anonymous) */
  usernameOf (client: Client): string | undefined
  /** audits a retained publish that was delivered but not stored */
  refused (client: Client | undefined, packet: { topic: string, qos: number }, detail: string): void
}

export interface RetainedQuota {
  readonly usage: RetainedUsage
  /** checks a retained publish's quota, in the hook pipeline before the other stages (a QoS 1 message is
   * published by the last of them, before its PUBACK) */
  readonly stage: HookStage
  /** wraps the store's storeRetained: from broker/patches.ts, before the broker starts */
  patchStore (): void
  /** counts what the store holds (start-up, before clients connect) */
  load (): Promise<void>
}

export function createRetainedQuota (p: AedesStore, limits: RetainedLimits, deps: RetainedQuotaDeps): RetainedQuota {
  const usage = new RetainedUsage(limits)
  /** topics whose next stored retained message was checked and counted for this owner */
  const reserved = new Map<string, string>()

  /** counts and refuses what reaches storeRetained (installed from broker/patches.ts) */
  const patchStore = (): void => patch(p, 'storeRetained', fn(2), (store) => async (packet) => {
    const topic = packet.topic
    if (packet.payload.length === 0) {
      reserved.delete(topic)
      usage.remove(topic)
      return await store(packet)
    }
    let owner = reserved.get(topic)
    reserved.delete(topic)
    if (owner === undefined) {
      // not from a client publish (a will published for a dead broker, a QoS 2 message recovered at start)
      const why = usage.check(topic, UNKNOWN_OWNER, storedBytes(packet))
      if (why !== null) { deps.refused(undefined, { topic, qos: 0 }, why); return }
      owner = UNKNOWN_OWNER
      usage.put(topic, owner, storedBytes(packet))
    }
    await store({ ...packet, [OWNER_FIELD]: owner })
  }, 'aedes 1.2 lets the retained store grow without limit', 'persistence')

  return {
    usage,
    patchStore,
    async load () {
      for await (const packet of p.createRetainedStreamCombi(['#'])) {
        usage.put(packet.topic, typeof packet[OWNER_FIELD] === 'string' ? packet[OWNER_FIELD] : UNKNOWN_OWNER, storedBytes(packet))
      }
    },
    stage: {
      name: 'retained-quota',
      authorizePublish (client, packet, cb, next) {
        if (client === null || !packet.retain || packet.payload.length === 0) { next(client, packet, cb); return }
        const topic = packet.topic
        const owner = deps.usernameOf(client) ?? ANONYMOUS
        const why = usage.check(topic, owner, storedBytes(packet))
        if (why !== null) {
          packet.retain = false
          // audited only when the other rules let it through: a refusal of theirs is audited by them
          next(client, packet, (err) => { if (err == null && packet.topic === topic) deps.refused(client, packet, why); cb(err) })
          return
        }
        const old = usage.put(topic, owner, storedBytes(packet))
        reserved.set(topic, owner)
        next(client, packet, (err) => {
          // refused by another rule (dropped, rewritten, or the connection closed): nothing will be stored
          if (err != null || !packet.retain || packet.topic !== topic) {
            if (reserved.get(topic) === owner) reserved.delete(topic)
            usage.restore(topic, old)
          }
          cb(err)
        })
      }
    }
  }
}
