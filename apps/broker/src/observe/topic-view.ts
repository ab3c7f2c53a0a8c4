// Registered topics as the control plane shows them: owners, schema, live subscribers, counts and rates.
import type { Aedes } from 'aedes'
import type { WardenHooks } from '../hooks/hooks.js'
import type { TopicMeter } from '../policy/decision.js'
import type { Reader } from '../policy/read-rules.js'
import { filtersIntersect } from '../policy/topic.js'
import { connectedClients } from '../registry/live-rules.js'
import type { StoredTopic } from '../registry/types.js'
import { subscriptionsOf } from './client-view.js'
import type { Sampler } from './sampler.js'

export interface TopicView {
  readonly filter: string
  readonly owners: readonly string[]
  readonly schema: Readonly<Record<string, unknown>> | null
  /** connected clients with a subscription overlapping the registration that their grants still allow */
  readonly subscribers: number
  /** publishes accepted since the broker started */
  readonly messages: number
  readonly bytes: number
  readonly messagesPerSecond: number
  readonly lastPublishAt: string | null
}

interface Listener { readonly filters: readonly string[], readonly reader: Reader }

/** `devices/{username}/#` → `devices/+/#`: a template level stands for any value. */
function widen (filter: string): string {
  return filter.split('/').map((l) => l.includes('{') ? '+' : l).join('/')
}

export function viewTopics (
  topics: readonly StoredTopic[], meters: ReadonlyMap<string, TopicMeter>, sampler: Sampler, broker: Aedes, hooks: WardenHooks
): TopicView[] {
  const listeners: Listener[] = []
  for (const client of connectedClients(broker)) {
    const reader = hooks.policyOf(client)?.reader
    const filters = subscriptionsOf(client).map((s) => s.filter)
    if (reader !== undefined && filters.length > 0) listeners.push({ filters, reader })
  }
  return topics.map((t) => {
    const wide = widen(t.filter)
    let subscribers = 0
    for (const l of listeners) {
      if (l.filters.some((f) => filtersIntersect(f, wide)) && l.reader.canSubscribe(wide)) subscribers++
    }
    const meter = meters.get(t.filter)
    return {
      filter: t.filter,
      owners: t.owners,
      schema: t.schema ?? null,
      subscribers,
      messages: meter?.messages ?? 0,
      bytes: meter?.bytes ?? 0,
      messagesPerSecond: round(sampler.topicRate(t.filter)),
      lastPublishAt: meter !== undefined && meter.lastAt > 0 ? new Date(meter.lastAt).toISOString() : null
    }
  })
}

export function round (n: number): number {
  return Math.round(n * 100) / 100
}
