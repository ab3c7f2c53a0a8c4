// Latency histogram: percentiles within the bucket error, exact extremes, bounded buckets.
import { describe, expect, it } from 'vitest'
import { createLatencyHistogram } from '../../apps/consumer/src/latency-histogram.js'

const filled = (values: number[]) => {
  const h = createLatencyHistogram()
  for (const v of values) h.record(v)
  return h
}

describe('latency histogram', () => {
  it('reports nulls when empty', () => {
    expect(createLatencyHistogram().summary()).toEqual({ count: 0, p50: null, p90: null, p99: null, max: null })
  })

  it.each([
    { name: 'one value', values: [12], want: { p50: 12, p90: 12, p99: 12, max: 12 } },
    { name: 'small whole milliseconds are exact', values: [3, 3, 3, 7], want: { p50: 3, p90: 7, p99: 7, max: 7 } },
    { name: 'zero', values: [0, 0, 1], want: { p50: 0, p90: 1, p99: 1, max: 1 } },
    { name: 'negative (clock skew) counts as zero', values: [-5, -1], want: { p50: 0, p90: 0, p99: 0, max: 0 } },
    { name: 'one slow outlier shows in p99 and max only', values: [...Array<number>(99).fill(5), 5000], want: { p50: 5, p90: 5, p99: 5, max: 5000 } },
    { name: 'the outlier reaches p99 with enough of them', values: [...Array<number>(98).fill(5), 5000, 5000], want: { p50: 5, p90: 5, p99: 5000, max: 5000 } }
  ])('$name', ({ values, want }) => {
    expect(filled(values).summary()).toEqual({ count: values.length, ...want })
  })

  it('stays within the bucket error on a wide uniform range', () => {
    const h = filled(Array.from({ length: 100_000 }, (_, i) => i + 1))
    for (const p of [50, 90, 99, 99.9]) {
      const exact = p * 1000
      expect(Math.abs((h.percentile(p) as number) - exact) / exact).toBeLessThan(0.012)
    }
    expect(h.summary().max).toBe(100_000)
  })

  it('keeps the exact max for huge values and ignores non-numbers', () => {
    const h = filled([2 ** 45, Number.NaN, Number.POSITIVE_INFINITY])
    expect(h.summary()).toEqual({ count: 1, p50: 2 ** 45, p90: 2 ** 45, p99: 2 ** 45, max: 2 ** 45 })
  })

  it('never reports a percentile beyond the observed extremes', () => {
    const h = filled([1000, 1001, 1002])
    expect(h.percentile(0)).toBeGreaterThanOrEqual(1000)
    expect(h.percentile(100)).toBeLessThanOrEqual(1002)
  })

  it('starts over after reset', () => {
    const h = filled([1, 2, 3])
    h.reset()
    expect(h.summary().count).toBe(0)
    h.record(9)
    expect(h.summary()).toEqual({ count: 1, p50: 9, p90: 9, p99: 9, max: 9 })
  })
})
