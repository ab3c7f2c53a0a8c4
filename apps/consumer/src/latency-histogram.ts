// Latency percentiles in fixed memory: log-scale buckets (~2% error), exact max.

export interface LatencySummary {
  count: number
  p50: number | null
  p90: number | null
  p99: number | null
  max: number | null
}

export interface LatencyHistogram {
  record (ms: number): void
  /** The value at percentile p (0-100], or null when nothing was recorded. */
  percentile (p: number): number | null
  summary (): LatencySummary
  reset (): void
}

// 32 buckets per doubling: each bucket is ~2.2% wide, so whole milliseconds below ~20 come back exact
const PER_DOUBLING = 32
// 2^40 ms is decades; anything slower shares the last bucket
const BUCKETS = 1 + 40 * PER_DOUBLING

/** Bucket 0 holds [0, 1); bucket i >= 1 holds [2^((i-1)/k), 2^(i/k)). */
function bucketOf (ms: number): number {
  if (ms < 1) return 0
  return Math.min(BUCKETS - 1, 1 + Math.floor(Math.log2(ms) * PER_DOUBLING))
}

function midpointOf (bucket: number): number {
  return bucket === 0 ? 0 : 2 ** ((bucket - 0.5) / PER_DOUBLING)
}

export function createLatencyHistogram (): LatencyHistogram {
  const counts = new Float64Array(BUCKETS)
  let count = 0
  let min = Infinity
  let max = -Infinity

  function percentile (p: number): number | null {
    if (count === 0) return null
    const rank = Math.max(1, Math.ceil((Math.min(100, Math.max(0, p)) / 100) * count))
    let seen = 0
    for (let i = 0; i < BUCKETS; i++) {
      seen += counts[i] ?? 0
      if (seen >= rank) {
        // the exact extremes are known, so never report beyond them
        return Math.min(max, Math.max(min, Math.round(midpointOf(i))))
      }
    }
    return max
  }

  return {
    record (ms) {
      if (!Number.isFinite(ms)) return
      // producer and consumer clocks may disagree; a negative latency is recorded as zero
      const v = Math.max(0, ms)
      const b = bucketOf(v)
      counts[b] = (counts[b] ?? 0) + 1
      count++
      if (v < min) min = v
      if (v > max) max = v
    },
    percentile,
    summary () {
      return { count, p50: percentile(50), p90: percentile(90), p99: percentile(99), max: count === 0 ? null : max }
    },
    reset () {
      counts.fill(0)
      count = 0
      min = Infinity
      max = -Infinity
    }
  }
}
