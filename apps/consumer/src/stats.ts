// The consumer's running totals (messages, sequences, latency) and the periodic summary built from them.
import { createLatencyHistogram } from './latency-histogram.js'
import type { ParsedMessage } from './message-record.js'
import { createSeqTracker, type DeviceSeqState, type DeviceSnapshot, type SeqOutcome } from './seq-tracker.js'
import { createShareWindow, cumulativeShare, type GroupShare } from './group-share.js'

export interface ConsumerTotals {
  /** Every message, telemetry or not. */
  received: number
  /** Messages that carried a deviceId and seq. */
  telemetry: number
  unique: number
  duplicates: number
  gaps: number
  resets: number
  stale: number
  malformed: number
  /** Duplicates delivered at QoS 2, which exactly-once forbids. */
  qos2Duplicates: number
  devices: number
}

export interface LatencyPercentiles {
  p50: number | null
  p90: number | null
  p99: number | null
  max: number | null
}

export interface Summary extends ConsumerTotals {
  windowMs: number
  ratePerSec: number
  /** Over this summary window. */
  latency: LatencyPercentiles
  /** Since start. */
  latencyOverall: LatencyPercentiles
  qos: number
  /** group mode: the group, and this member's share of the stream (gaps are not counted then) */
  group?: string
  /** Since the counters started (across restarts with `resume`): after a change of membership it moves slowly. */
  share?: GroupShare
  /** Over this summary window: about 1/N from the first window after N members share the stream. */
  shareWindow?: GroupShare
}

/** What survives a restart when `resume` is on. */
export interface SavedStats {
  received: number
  malformed: number
  qos2Duplicates: number
  perDevice: Record<string, DeviceSnapshot>
}

export interface StatsBook {
  observe (msg: ParsedMessage): SeqOutcome | undefined
  totals (): ConsumerTotals
  device (deviceId: string): DeviceSeqState | undefined
  /** Summarises and starts a new window. */
  summarize (now: number): Summary
  save (): SavedStats
  restore (saved: SavedStats): void
}

export function createStatsBook ({ qos, seqWindow, startedAt, group }: { qos: number, seqWindow: number, startedAt: number, group?: string }): StatsBook {
  const tracker = createSeqTracker({ windowSize: seqWindow })
  const windowLatency = createLatencyHistogram()
  const overallLatency = createLatencyHistogram()
  let received = 0
  let malformed = 0
  let qos2Duplicates = 0
  let windowStart = startedAt
  let windowReceived = 0
  const shareWindow = group !== undefined ? createShareWindow() : undefined

  const totals = (): ConsumerTotals => {
    const t = tracker.totals()
    return {
      received,
      telemetry: t.received,
      unique: t.unique,
      duplicates: t.duplicates,
      // a group member sees only its share of each device's sequence: the rest went to the other members
      gaps: group === undefined ? t.gaps : 0,
      resets: t.resets,
      stale: t.stale,
      malformed,
      qos2Duplicates,
      devices: t.devices
    }
  }

  return {
    observe ({ record, run, malformed: bad }) {
      received++
      windowReceived++
      if (bad) malformed++
      if (record.deviceId === null || record.seq === null) return undefined
      const outcome = tracker.record(record.deviceId, record.seq, run)
      shareWindow?.observe(record.deviceId, record.seq, outcome)
      if (outcome === 'duplicate' && record.qos === 2) qos2Duplicates++
      if (record.latencyMs !== null) {
        windowLatency.record(record.latencyMs)
        overallLatency.record(record.latencyMs)
      }
      return outcome
    },
    totals,
    device: (deviceId) => tracker.device(deviceId),
    summarize (now) {
      const windowMs = Math.max(0, now - windowStart)
      const summary: Summary = {
        ...totals(),
        windowMs,
        ratePerSec: windowMs === 0 ? 0 : Math.round((windowReceived / windowMs) * 1000 * 10) / 10,
        latency: percentiles(windowLatency.summary()),
        latencyOverall: percentiles(overallLatency.summary()),
        qos,
        ...(group !== undefined && shareWindow !== undefined ? { group, share: cumulativeShare(tracker.snapshot()), shareWindow: shareWindow.roll() } : {})
      }
      windowStart = now
      windowReceived = 0
      windowLatency.reset()
      return summary
    },
    save: () => ({ received, malformed, qos2Duplicates, perDevice: tracker.snapshot() }),
    restore (saved) {
      received = saved.received
      malformed = saved.malformed
      qos2Duplicates = saved.qos2Duplicates
      tracker.restore(saved.perDevice)
    }
  }
}

function percentiles ({ p50, p90, p99, max }: LatencyPercentiles): LatencyPercentiles {
  return { p50, p90, p99, max }
}
