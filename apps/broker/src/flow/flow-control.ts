// Flow control: a subscriber that keeps reading but falls behind slows down the publishers feeding it, on
// every worker, rather than being cut off at limits.maxOutgoingBytes or maxQueuedMessages and losing what
// waited for it. Its worker sees it congested (congestion.ts) and announces what it receives (reach.ts) to
// itself and, in a cluster, to the others (flow-link.ts); every worker holds its own clients' matching
// publishes (holds.ts) before they are accepted. Holding authorizePublish's callback stops aedes reading that
// publisher's socket (aedes handles a connection's packets one batch at a time), so TCP slows the publisher
// down and its QoS 1/2 acknowledgements wait: nothing is dropped.
//
// Bounded so that a slow reader cannot turn it against others: a publish waits at most maxHoldMs; only a
// subscriber draining at least minDrainBytesPerSec holds anyone (one that stops, or trickles, is cut off at
// its bound as before); it holds only publishes it would receive and may read; announcements expire unless
// renewed; `roles` can keep the power to the accounts that need it.
import type { Client, PublishPacket } from 'aedes'
import type { PublishDone } from '../hooks/pipeline.js'
import type { FlowControlConfig } from '../config/hardening-schema.js'
import type { HookStage } from '../hooks/pipeline.js'
import { isWillOf } from '../aedes/accessors.js'
import { CongestionWatch, type CongestionLimits, type Usage } from './congestion.js'
import { DEFAULT_SLICE, Holds, type HoldStats, type Reach, type ReleaseSlice } from './holds.js'
import type { FlowLink, FlowPeer } from './flow-link.js'

/** an announcement is renewed this often while its subscriber stays congested, and lasts TTL_MS */
const RENEW_MS = 300
const TTL_MS = 1500

export interface FlowStats extends HoldStats {
  /** times a subscriber of this worker became congested */
  congested: number
}

export interface FlowDeps {
  readonly brokerId: string
  /** what the client receives, its read grants applied; undefined: not known (yet) */
  reachOf (client: Client): Reach | undefined
  /** its roles, to check against `roles` */
  rolesOf (client: Client): readonly string[] | undefined
  /** config `replies`: the client whose reply topic `topic` lies under ('' directly on the prefix), which alone
   * receives it; undefined when the topic is outside the namespace */
  replyOwnerOf? (topic: string): string | undefined
  usageOf (clientId: string): Usage | undefined
  /** a subscriber of this worker became congested, or clear again */
  log? (event: 'congested' | 'clear', client: Client): void
  /**
   * a publish held and let go: true if it is still accepted (the rules as they are now: ownership revoked, an
   * account deleted while it waited); false once it has been refused and `cb` answered
   */
  stillAccepted? (client: Client, packet: PublishPacket, cb: PublishDone): boolean
}

export interface FlowControl {
  /** the hook stage holding publishes, last before a publish is accepted */
  readonly stage: HookStage
  /** watches what is written to a new client */
  watch (client: Client): void
  /** the client acknowledged a QoS 1/2 message (aedes's 'ack' event) */
  acked (client: Client): void
  /** what the other workers announce goes here (flow-link.ts) */
  readonly peer: FlowPeer
  /** cluster mode: tells the other workers */
  link (link: FlowLink): void
  /** keys of the congested subscribers this worker knows of */
  congested (): readonly string[]
  readonly stats: FlowStats
  close (): void
}

/** the bounds a subscriber is cut off at */
export type CutOffBounds = Pick<CongestionLimits, 'maxOutgoingBytes' | 'maxQueuedMessages' | 'maxQueuedBytes'>

/**
 * What a cleared subscriber's held publishes go on by at a time: half the way from its low-water mark back to its
 * high-water mark, so that it is seen crossing it again before much more is on its way
 */
export function releaseSlice (cfg: Pick<FlowControlConfig, 'highWater' | 'lowWater'>, bounds: CutOffBounds): ReleaseSlice {
  const share = (cfg.highWater - cfg.lowWater) / 2
  return {
    bytes: bounds.maxOutgoingBytes > 0 ? Math.max(1, Math.floor(bounds.maxOutgoingBytes * share)) : DEFAULT_SLICE.bytes,
    publishes: bounds.maxQueuedMessages > 0 ? Math.max(1, Math.floor(bounds.maxQueuedMessages * share)) : DEFAULT_SLICE.publishes
  }
}

export function createFlowControl (cfg: FlowControlConfig, bounds: CutOffBounds, deps: FlowDeps): FlowControl {
  const holds = new Holds(cfg.maxHoldMs, deps.replyOwnerOf, releaseSlice(cfg, bounds))
  const stats: FlowStats = Object.assign(holds.stats, { congested: 0 })
  const roles = cfg.roles === undefined ? undefined : new Set(cfg.roles)
  let link: FlowLink | undefined
  const announced = new Map<Client, number>()
  const keyOf = (client: Client): string => `${deps.brokerId}\u0000${client.id}`

  const watch = new CongestionWatch({ ...bounds, highWater: cfg.highWater, lowWater: cfg.lowWater, minDrainBytesPerSec: cfg.minDrainBytesPerSec }, {
    usageOf: deps.usageOf,
    congested (client) {
      const now = Date.now()
      const last = announced.get(client)
      if (last !== undefined && now - last < RENEW_MS) return
      if (roles !== undefined && !(deps.rolesOf(client)?.some((r) => roles.has(r)) ?? false)) return
      const reach = deps.reachOf(client)
      if (reach === undefined || reach.length === 0) return
      if (last === undefined) { stats.congested++; deps.log?.('congested', client) }
      announced.set(client, now)
      holds.set(keyOf(client), reach, TTL_MS)
      link?.announce(keyOf(client), reach, TTL_MS)
    },
    clear (client) {
      if (!announced.delete(client)) return
      deps.log?.('clear', client)
      holds.clear(keyOf(client))
      link?.clear(keyOf(client))
    }
  })

  return {
    stats,
    stage: {
      name: 'flow-control',
      authorizePublish (client, packet, cb, next) {
        // wills and the broker's own messages have no socket to slow down
        if (client === null || isWillOf(client, packet)) { next(client, packet, cb); return }
        holds.hold(packet.topic, packet.topic.length + packet.payload.length, (held) => {
          // judged by the rules before it waited, up to maxHoldMs: judged again as they are now
          if (held && deps.stillAccepted !== undefined && !deps.stillAccepted(client, packet, cb)) return
          next(client, packet, cb)
        })
      },
      authorizeForward (client, packet, next) {
        const out = next(client, packet)
        if (out !== null && out.qos > 0) watch.sent(client, out.topic.length + (out.payload?.length ?? 0))
        return out
      }
    },
    peer: { set: (key, reach, ttlMs) => holds.set(key, reach, ttlMs), clear: (key) => holds.clear(key) },
    watch (client) { if (cfg.enabled) watch.watch(client) },
    acked (client) { if (cfg.enabled) watch.acked(client) },
    link (l) {
      link = l
    },
    congested: () => holds.congested,
    close () {
      watch.close()
      holds.close()
      link?.close()
    }
  }
}
