// Samples the hot path's plain counters on a timer and turns them into rates; nothing here runs per message.
import type { TrafficStats } from '../hooks/hooks.js'
import type { TopicMeter } from '../policy/decision.js'

export interface RateSample {
  /** epoch ms */
  readonly ts: number
  readonly clients: number
  readonly receivedPerSecond: number
  readonly sentPerSecond: number
}

export interface Sampler {
  /** the last samples, oldest first (for charts) */
  history (): RateSample[]
  latest (): RateSample
  /** messages per second accepted under a registration, over the sampling window */
  topicRate (filter: string): number
  /** the registrations with traffic in the sampling window (every other one has rate 0) */
  activeTopics (): IterableIterator<string>
  /** calls back after every sample; returns a function that stops it */
  onSample (listener: (sample: RateSample) => void): () => void
  close (): void
}

export interface SamplerOptions {
  intervalMs: number
  stats: TrafficStats
  meters: ReadonlyMap<string, TopicMeter>
  clients: () => number
  /** rates are averaged over this many intervals */
  window?: number
  historySize?: number
}

const sum3 = (a: readonly [number, number, number]): number => a[0] + a[1] + a[2]

export function createSampler ({ intervalMs, stats, meters, clients, window = 5, historySize = 300 }: SamplerOptions): Sampler {
  // rings aligned with `times`: the counter's value at each sample
  const times: number[] = []
  const received: number[] = []
  const sent: number[] = []
  // rings only for registrations with traffic in the window: a quiet one costs one comparison per tick with
  // the count this sampler saw last, kept on the meter under a key of this sampler's own (100k registrations:
  // ~2.5 ms a tick; in a WeakMap 15 ms, in a Map by filter more)
  const topics = new Map<string, number[]>()
  const SAMPLED = Symbol('sampled')
  type Seen = TopicMeter & { [SAMPLED]?: number }
  const history: RateSample[] = []
  const listeners = new Set<(s: RateSample) => void>()
  let last: RateSample = { ts: Date.now(), clients: clients(), receivedPerSecond: 0, sentPerSecond: 0 }

  const rate = (ring: readonly number[]): number => {
    const n = times.length
    if (n < 2) return 0
    const dt = (times[n - 1] as number) - (times[0] as number)
    return dt <= 0 ? 0 : (((ring[ring.length - 1] ?? 0) - (ring[0] ?? 0)) * 1000) / dt
  }
  const push = (ring: number[], value: number): void => {
    ring.push(value)
    if (ring.length > window + 1) ring.shift()
  }

  const tick = (): void => {
    push(times, Date.now())
    push(received, sum3(stats.received))
    push(sent, sum3(stats.sent))
    for (const [filter, ring] of topics) {
      const meter = meters.get(filter)
      if (meter === undefined) { topics.delete(filter); continue }
      push(ring, meter.messages)
      ;(meter as Seen)[SAMPLED] = meter.messages
      if (ring.length === times.length && ring[0] === meter.messages) topics.delete(filter)
    }
    for (const [filter, meter] of meters) {
      const before = (meter as Seen)[SAMPLED]
      if (before === meter.messages) continue
      ;(meter as Seen)[SAMPLED] = meter.messages
      // a registration that appears starts from its current count: rate 0, not a spike
      if (before === undefined) continue
      const woke = new Array<number>(times.length - 1).fill(before)
      woke.push(meter.messages)
      topics.set(filter, woke)
    }
    last = { ts: times[times.length - 1] as number, clients: clients(), receivedPerSecond: rate(received), sentPerSecond: rate(sent) }
    history.push(last)
    if (history.length > historySize) history.shift()
    for (const l of listeners) l(last)
  }
  tick()
  const timer = setInterval(tick, intervalMs)
  timer.unref()

  return {
    history: () => [...history],
    latest: () => last,
    topicRate: (filter) => {
      const ring = topics.get(filter)
      return ring === undefined ? 0 : rate(ring)
    },
    activeTopics: () => topics.keys(),
    onSample (listener) {
      listeners.add(listener)
      return () => { listeners.delete(listener) }
    },
    close () {
      clearInterval(timer)
      listeners.clear()
    }
  }
}
