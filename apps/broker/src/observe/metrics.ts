// Prometheus metrics (prom-client). Every value is read from plain counters at scrape time (collect
// callbacks): nothing on the message path calls prom-client.
import type { Aedes } from 'aedes'
import { collectDefaultMetrics, Counter, Gauge, Registry, type Metric } from 'prom-client'
import type { Audit } from '../audit/audit.js'
import type { TrafficStats } from '../hooks/hooks.js'
import type { BusStats } from '../store/redis-bus.js'
import type { FlowStats } from '../flow/flow-control.js'
import type { TopicMeter } from '../policy/decision.js'
import { connectedClients } from '../registry/live-rules.js'
import type { Registry as WardenRegistry } from '../registry/registry.js'
import type { Sessions } from '../sessions/sessions.js'
import { queuedBytesOf, subscriptionsOf } from './client-view.js'
import { LATENCY_BUCKETS, SAMPLE_EVERY, type DeliveryLatency } from '../hooks/delivery-latency.js'

export interface MetricsSources {
  broker: Aedes
  stats: TrafficStats
  audit: Audit
  registry: WardenRegistry
  meters: ReadonlyMap<string, TopicMeter>
  /** CONNECTs accepted since start */
  connections: () => number
  /** publishes handed to the store/bus and not yet done */
  inFlight: () => number
  /** cluster mode: the Redis bus's counters */
  bus?: BusStats | undefined
  sessions: Pick<Sessions, 'census'>
  /** what the retained store holds (limits/retained-usage.ts) */
  retained: () => { readonly count: number, readonly bytes: number }
  /** CONNECTs refused for their protocol version, by version ('5' with mqtt5: false; 'other': not 3, 4 or 5) */
  protocolRefusals: ReadonlyMap<string, number>
  /** live deliveries to persistent sessions skipped, their queue entry gone (aedes/unqueued-deliveries.ts) */
  unqueued?: (() => number) | undefined
  /** flow control (flow/): publishes held for congested subscribers, and those subscribers */
  flow?: { readonly stats: FlowStats, congested (): readonly string[] } | undefined
}

export interface Metrics {
  readonly contentType: string
  render (): Promise<string>
}

// process metrics (CPU, memory, event loop, GC) describe the process, not one broker: registered once per
// process, so that tests running several brokers in one process do not stack up observers
let processRegistry: Registry | undefined
function processMetrics (): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry })
  }
  return processRegistry
}

const QOS = ['0', '1', '2'] as const

export function createMetrics (src: MetricsSources): Metrics {
  const registry = new Registry()
  const registers = [registry]
  const { stats } = src

  new Gauge({ name: 'warden_clients_connected', help: 'Connected MQTT clients', registers, collect () { this.set(src.broker.connectedClients) } })
  new Counter({
    name: 'warden_connections_total', help: 'MQTT connections accepted (CONNACK 0)', registers,
    collect () { setCounter(this, src.connections()) }
  })
  new Counter({
    name: 'warden_messages_received_total', help: 'PUBLISH packets accepted from clients, by QoS', labelNames: ['qos'], registers,
    collect () { this.reset(); QOS.forEach((q, i) => this.labels(q).inc(stats.received[i as 0 | 1 | 2])) }
  })
  new Counter({
    name: 'warden_messages_sent_total', help: 'Messages delivered to subscribers, by delivered QoS', labelNames: ['qos'], registers,
    collect () { this.reset(); QOS.forEach((q, i) => this.labels(q).inc(stats.sent[i as 0 | 1 | 2])) }
  })
  new Counter({
    name: 'warden_received_bytes_total', help: 'Payload bytes of accepted publishes', registers,
    collect () { setCounter(this, stats.receivedBytes) }
  })
  new Counter({ name: 'warden_sent_bytes_total', help: 'Payload bytes delivered to subscribers', registers, collect () { setCounter(this, stats.sentBytes) } })
  new Counter({
    name: 'warden_forward_filtered_total', help: 'Messages withheld from a subscriber that may not read them', registers,
    collect () { setCounter(this, stats.forwardFiltered) }
  })
  new Counter({
    name: 'warden_denials_total', help: 'Refusals by kind (connect, publish, subscribe, will) and reason', labelNames: ['kind', 'reason'], registers,
    collect () {
      this.reset()
      for (const [key, n] of src.audit.counts) {
        const [kind = '', reason = ''] = key.split(':')
        this.labels(kind, reason).inc(n)
      }
    }
  })
  new Counter({
    name: 'warden_topic_messages_total', help: 'Publishes accepted per topic registration', labelNames: ['filter'], registers,
    collect () {
      this.reset()
      for (const [filter, m] of src.meters) this.labels(filter).inc(m.messages)
    }
  })
  const bus = src.bus
  if (bus !== undefined) {
    new Counter({
      name: 'warden_cluster_bus_messages_total',
      help: 'Cluster mode: client messages sent to the other broker processes, and messages received from them',
      labelNames: ['direction'], registers,
      collect () { this.reset(); this.labels('sent').inc(bus.sent); this.labels('received').inc(bus.received) }
    })
  }
  const flow = src.flow
  if (flow !== undefined) {
    const { stats: f } = flow
    new Counter({
      name: 'warden_flow_held_total', help: 'Publishes held for a congested subscriber (limits.flowControl)', registers,
      collect () { setCounter(this, f.held) }
    })
    new Counter({
      name: 'warden_flow_held_timeouts_total', help: 'Held publishes let go by limits.flowControl.maxHoldMs while still congested', registers,
      collect () { setCounter(this, f.timedOut) }
    })
    new Counter({
      name: 'warden_flow_held_seconds_total', help: 'Time publishes spent held, in all', registers,
      collect () { setCounter(this, f.heldMs / 1000) }
    })
    new Counter({
      name: 'warden_flow_congestions_total', help: 'Times a subscriber of this process became congested', registers,
      collect () { setCounter(this, f.congested) }
    })
    new Gauge({
      name: 'warden_flow_congested_subscribers',
      help: 'Congested subscribers this process holds publishes for (its own and, in a cluster, the others\')', registers,
      collect () { this.set(flow.congested().length) }
    })
  }
  new Gauge({
    name: 'warden_subscriptions', help: 'Subscriptions of connected clients', registers,
    collect () { let n = 0; for (const c of connectedClients(src.broker)) n += subscriptionsOf(c).length; this.set(n) }
  })
  new Gauge({
    name: 'warden_socket_queued_bytes', help: 'Bytes waiting in connected clients\' socket buffers (slow readers)', registers,
    collect () { let n = 0; for (const c of connectedClients(src.broker)) n += queuedBytesOf(c); this.set(n) }
  })
  new Gauge({
    name: 'warden_publishes_in_flight', help: 'Accepted publishes not yet stored and handed to the bus', registers,
    collect () { this.set(src.inFlight()) }
  })
  new Gauge({ name: 'warden_registry_users', help: 'Accounts in the registry', registers, collect () { this.set(src.registry.state.users.length) } })
  new Gauge({
    name: 'warden_registry_topics', help: 'Topic registrations in the registry', registers,
    collect () { this.set(src.registry.state.topics.length) }
  })
  new Gauge({
    name: 'warden_registry_revision', help: 'Revision of the registry (one per change)', registers,
    collect () { this.set(src.registry.state.revision) }
  })

  registry.registerMetric(latencyHistogram(stats.latency))
  new Gauge({
    name: 'warden_sessions_persistent', help: 'Persistent sessions (clean=false, or MQTT 5 Session Expiry > 0), by whether their client is connected',
    labelNames: ['state'], registers,
    async collect () {
      const c = await src.sessions.census()
      this.set({ state: 'connected' }, c.connected)
      this.set({ state: 'offline' }, c.persistent - c.connected)
    }
  })
  new Gauge({
    name: 'warden_sessions_queued_messages',
    help: 'QoS 1/2 messages stored for persistent sessions (recounted at most every 15 s: counting reads every queue)', registers,
    async collect () { this.set((await src.sessions.census()).queued) }
  })
  new Gauge({ name: 'warden_retained_messages', help: 'Retained messages in the store', registers, collect () { this.set(src.retained().count) } })
  new Gauge({
    name: 'warden_retained_bytes', help: 'Bytes of topic and payload of the retained messages in the store', registers,
    collect () { this.set(src.retained().bytes) }
  })
  new Counter({
    name: 'warden_connect_protocol_refused_total',
    help: 'CONNECTs refused for their protocol version: "5" while mqtt5 is false, "other" for a version that is not 3, 4 or 5',
    labelNames: ['version'], registers,
    collect () { this.reset(); for (const [v, n] of src.protocolRefusals) this.labels(v).inc(n) }
  })

  new Counter({
    name: 'warden_deliveries_unqueued_total',
    help: 'Live QoS 1/2 deliveries to persistent sessions not sent: no queue entry (published while the client subscribed, ' +
      'before its SUBACK; or acknowledged, expired or dropped meanwhile), or a second copy of one the connection has in flight',
    registers,
    collect () { setCounter(this, src.unqueued?.() ?? 0) }
  })

  const proc = processMetrics()
  return {
    contentType: registry.contentType,
    async render () {
      return (await registry.metrics()) + '\n' + (await proc.metrics())
    }
  }
}

/** prom-client's Histogram cannot be filled from buckets counted elsewhere: a metric of our own that
 * renders the same text (cumulative `_bucket{le}`, `_sum`, `_count`) from DeliveryLatency's array. */
interface MetricValue { metricName: string, labels: Record<string, string | number>, value: number }

function latencyHistogram (latency: DeliveryLatency): Metric {
  const name = 'warden_delivery_latency_seconds'
  const help = 'Time from a PUBLISH accepted by the ownership check to its hand-over to this process\'s subscribers ' +
    `(stored first at QoS 1); one accepted publish in ${SAMPLE_EVERY} is measured, QoS 2 is not`
  return {
    name,
    help,
    type: 'histogram',
    get () {
      const values: MetricValue[] = []
      let cumulative = 0
      LATENCY_BUCKETS.forEach((le, i) => {
        cumulative += latency.counts[i]!
        values.push({ metricName: `${name}_bucket`, labels: { le }, value: cumulative })
      })
      values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf' }, value: latency.count })
      values.push({ metricName: `${name}_sum`, labels: {}, value: latency.sum })
      values.push({ metricName: `${name}_count`, labels: {}, value: latency.count })
      return { name, help, type: 'histogram', values, aggregator: 'sum' }
    }
  } as unknown as Metric
}

/** A counter whose value lives elsewhere: set it to that value at scrape time. */
function setCounter (c: Counter, value: number): void {
  c.reset()
  c.inc(value)
}
