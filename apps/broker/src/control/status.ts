// One summary of the broker: listeners, registry, clients, traffic and refusals (API, CLI, $SYS stats).
import type { ControlContext } from './context.js'
import { connectedClients } from '../registry/live-rules.js'
import { subscriptionsOf } from '../observe/client-view.js'
import { round } from '../observe/topic-view.js'

export interface Status {
  readonly brokerId: string
  readonly startedAt: string
  readonly uptimeSeconds: number
  readonly listeners: { readonly mqtt: string, readonly http: string }
  readonly persistence: string
  readonly registry: { readonly backend: string, readonly revision: number, readonly updatedAt: string }
  readonly clients: number
  readonly subscriptions: number
  readonly users: number
  readonly topics: number
  readonly messages: {
    readonly received: number
    readonly sent: number
    readonly receivedPerSecond: number
    readonly sentPerSecond: number
    readonly receivedBytes: number
    readonly sentBytes: number
  }
  readonly denials: { readonly total: number, readonly byReason: Readonly<Record<string, number>> }
}

export function buildStatus (ctx: ControlContext): Status {
  const { stats } = ctx.hooks
  const rates = ctx.sampler.latest()
  const state = ctx.registry.state
  let subscriptions = 0
  for (const c of connectedClients(ctx.broker)) subscriptions += subscriptionsOf(c).length
  let denials = 0
  for (const n of ctx.audit.counts.values()) denials += n
  return {
    brokerId: ctx.brokerId,
    startedAt: new Date(ctx.startedAt).toISOString(),
    uptimeSeconds: Math.round((Date.now() - ctx.startedAt) / 1000),
    listeners: { ...ctx.listeners },
    persistence: ctx.config.persistence,
    registry: { backend: ctx.registry.backend.kind, revision: state.revision, updatedAt: state.updatedAt },
    clients: ctx.broker.connectedClients,
    subscriptions,
    users: state.users.length,
    topics: state.topics.length,
    messages: {
      received: stats.received[0] + stats.received[1] + stats.received[2],
      sent: stats.sent[0] + stats.sent[1] + stats.sent[2],
      receivedPerSecond: round(rates.receivedPerSecond),
      sentPerSecond: round(rates.sentPerSecond),
      receivedBytes: stats.receivedBytes,
      sentBytes: stats.sentBytes
    },
    denials: { total: denials, byReason: Object.fromEntries(ctx.audit.counts) }
  }
}
