// Sequence accounting: every outcome the tracker can report, as tables, plus a randomised cross-check.
import { describe, expect, it } from 'vitest'
import { createSeqTracker, type SeqOutcome, type SeqTotals } from '../../apps/consumer/src/seq-tracker.js'

type Event = [device: string, seq: number, run?: string]

interface Case {
  name: string
  window?: number
  events: Event[]
  outcomes: SeqOutcome[]
  totals: Partial<SeqTotals>
}

const d = (seq: number, run?: string): Event => run === undefined ? ['dev', seq] : ['dev', seq, run]

const cases: Case[] = [
  { name: 'in order', events: [d(1), d(2), d(3)], outcomes: ['first', 'next', 'next'], totals: { received: 3, unique: 3, duplicates: 0, gaps: 0 } },
  { name: 'first seq is a baseline, not a gap', events: [d(1000), d(1001)], outcomes: ['first', 'next'], totals: { unique: 2, gaps: 0 } },
  { name: 'seq 0 is valid', events: [d(0), d(1)], outcomes: ['first', 'next'], totals: { gaps: 0 } },
  {
    name: 'duplicate of the highest and of an older seq',
    events: [d(1), d(2), d(2), d(3), d(1)], outcomes: ['first', 'next', 'duplicate', 'next', 'duplicate'],
    totals: { received: 5, unique: 3, duplicates: 2, gaps: 0 }
  },
  { name: 'duplicate of the baseline', events: [d(7), d(7)], outcomes: ['first', 'duplicate'], totals: { duplicates: 1 } },
  { name: 'gap', events: [d(1), d(2), d(5)], outcomes: ['first', 'next', 'ahead'], totals: { unique: 3, gaps: 2 } },
  {
    name: 'late arrivals fill gaps and are not duplicates',
    events: [d(1), d(2), d(5), d(3), d(4), d(4)], outcomes: ['first', 'next', 'ahead', 'late', 'late', 'duplicate'],
    totals: { unique: 5, duplicates: 1, gaps: 0 }
  },
  {
    name: 'arrival below the baseline extends it',
    events: [d(10), d(8), d(9), d(8)], outcomes: ['first', 'late', 'late', 'duplicate'],
    totals: { unique: 3, duplicates: 1, gaps: 0 }
  },
  { name: 'arrival below the baseline leaves a gap', events: [d(10), d(7)], outcomes: ['first', 'late'], totals: { unique: 2, gaps: 2 } },
  {
    name: 'new run continuing the seq is contiguous',
    events: [d(1, 'a'), d(2, 'a'), d(3, 'b'), d(4, 'b')], outcomes: ['first', 'next', 'next', 'next'],
    totals: { unique: 4, gaps: 0, resets: 0 }
  },
  {
    name: 'new run that skips ahead is a gap, not a reset',
    events: [d(1, 'a'), d(2, 'a'), d(5, 'b')], outcomes: ['first', 'next', 'ahead'],
    totals: { gaps: 2, resets: 0 }
  },
  {
    name: 'new run going backwards starts a new epoch',
    events: [d(1, 'a'), d(2, 'a'), d(3, 'a'), d(1, 'b'), d(2, 'b')], outcomes: ['first', 'next', 'next', 'reset', 'next'],
    totals: { unique: 5, duplicates: 0, gaps: 0, resets: 1 }
  },
  {
    name: 'new run repeating the highest seq is a reset',
    events: [d(5, 'a'), d(5, 'b')], outcomes: ['first', 'reset'],
    totals: { unique: 2, duplicates: 0, resets: 1 }
  },
  {
    name: 'counts carry across an epoch',
    events: [d(1, 'a'), d(3, 'a'), d(0, 'b'), d(0, 'b'), d(2, 'b')], outcomes: ['first', 'ahead', 'reset', 'duplicate', 'ahead'],
    totals: { unique: 4, duplicates: 1, gaps: 2, resets: 1 }
  },
  {
    name: 'same run going backwards is a duplicate, not a reset',
    events: [d(1, 'a'), d(2, 'a'), d(1, 'a')], outcomes: ['first', 'next', 'duplicate'],
    totals: { duplicates: 1, resets: 0 }
  },
  {
    name: 'late message of the previous run still fills its gap',
    events: [d(1, 'a'), d(2, 'a'), d(4, 'b'), d(3, 'a')], outcomes: ['first', 'next', 'ahead', 'late'],
    totals: { gaps: 0, resets: 0 }
  },
  { name: 'payloads without a run never reset', events: [d(1), d(2), d(1)], outcomes: ['first', 'next', 'duplicate'], totals: { resets: 0, duplicates: 1 } },
  {
    name: 'devices are independent',
    events: [['a', 1], ['b', 1], ['a', 2], ['b', 3], ['a', 2]], outcomes: ['first', 'first', 'next', 'ahead', 'duplicate'],
    totals: { devices: 2, unique: 4, gaps: 1, duplicates: 1 }
  },
  {
    name: 'window overflow: too old to judge is stale', window: 32,
    events: [d(0), d(100), d(0), d(80), d(68), d(69)], outcomes: ['first', 'ahead', 'stale', 'late', 'stale', 'late'],
    totals: { received: 6, unique: 4, stale: 2, gaps: 97 }
  },
  {
    name: 'window overflow: a jump of exactly the window', window: 32,
    events: [d(0), d(32), d(0), d(1), d(32)], outcomes: ['first', 'ahead', 'stale', 'late', 'duplicate'],
    totals: { gaps: 30, stale: 1, duplicates: 1 }
  },
  {
    name: 'window overflow: a huge jump clears the window', window: 32,
    events: [d(1), d(1000), d(1001), d(999), d(1000)], outcomes: ['first', 'ahead', 'next', 'late', 'duplicate'],
    totals: { gaps: 997, duplicates: 1 }
  },
  {
    name: 'window overflow: ring slots are reused correctly', window: 32,
    events: [...Array.from({ length: 101 }, (_, i) => d(i)), d(90), d(69), d(68)],
    outcomes: ['first', ...Array<SeqOutcome>(100).fill('next'), 'duplicate', 'duplicate', 'stale'],
    totals: { unique: 101, duplicates: 2, stale: 1, gaps: 0 }
  }
]

describe('seq tracker', () => {
  it.each(cases)('$name', ({ window, events, outcomes, totals }) => {
    const tracker = createSeqTracker({ windowSize: window ?? 4096 })
    const got = events.map(([id, seq, run]) => tracker.record(id, seq, run))
    expect(got).toEqual(outcomes)
    expect(tracker.totals()).toMatchObject(totals)
    const t = tracker.totals()
    expect(t.received).toBe(t.unique + t.duplicates + t.stale)
  })

  it('rounds the window up to a multiple of 32', () => {
    const tracker = createSeqTracker({ windowSize: 40 })
    tracker.record('dev', 0)
    tracker.record('dev', 63)
    // a 40-seq window would have forgotten seq 0; the 64-seq one still knows it arrived
    expect(tracker.record('dev', 0)).toBe('duplicate')
  })

  it('rejects seqs that are not non-negative integers', () => {
    const tracker = createSeqTracker()
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 60]) expect(() => tracker.record('dev', bad)).toThrow(RangeError)
  })

  it('reports per-device state', () => {
    const tracker = createSeqTracker()
    tracker.record('dev', 4, 'r1')
    tracker.record('dev', 6, 'r1')
    expect(tracker.device('dev')).toEqual({ run: 'r1', highest: 6, received: 2, unique: 2, duplicates: 0, gaps: 1, resets: 0, stale: 0 })
    expect(tracker.device('other')).toBeUndefined()
  })

  it('restores a snapshot: earlier seqs are duplicates, the next is contiguous, a jump is a gap', () => {
    const before = createSeqTracker()
    for (const seq of [1, 2, 4]) before.record('dev', seq, 'r1')
    const after = createSeqTracker()
    after.restore(before.snapshot())
    expect(after.device('dev')).toEqual(before.device('dev'))
    expect(after.record('dev', 2, 'r1')).toBe('duplicate')
    expect(after.record('dev', 5, 'r1')).toBe('next')
    expect(after.record('dev', 8, 'r1')).toBe('ahead')
    expect(after.record('dev', 0, 'r2')).toBe('reset')
    expect(after.totals()).toMatchObject({ unique: 6, duplicates: 1, gaps: 3, resets: 1 })
  })

  it('carries missing seqs over a restore, so a late arrival still fills its gap', () => {
    const before = createSeqTracker({ windowSize: 64 })
    for (const seq of [10, 11, 14, 16]) before.record('dev', seq, 'r1')
    const snapshot = before.snapshot()
    expect(snapshot.dev).toMatchObject({ floor: 10, highest: 16, missing: [12, 13, 15], gaps: 3 })
    const after = createSeqTracker({ windowSize: 64 })
    after.restore(JSON.parse(JSON.stringify(snapshot)))
    expect([13, 14, 9, 17].map((seq) => after.record('dev', seq, 'r1'))).toEqual(['late', 'duplicate', 'late', 'next'])
    expect(after.totals()).toMatchObject({ unique: 7, duplicates: 1, gaps: 2 })
    expect(after.snapshot().dev).toMatchObject({ floor: 9, missing: [12, 15] })
  })

  it('agrees with a naive set-based count on shuffled, lossy, duplicated streams', () => {
    let state = 42
    const random = (): number => { state = (state * 1103515245 + 12345) % 2 ** 31; return state / 2 ** 31 }
    for (let round = 0; round < 200; round++) {
      const start = Math.floor(random() * 1000)
      const stream: number[] = []
      for (let seq = start; seq < start + 300; seq++) {
        if (random() < 0.1) continue // lost
        stream.push(seq)
        if (random() < 0.1) stream.push(seq) // duplicated
      }
      // local shuffles only, so nothing falls outside a 64-seq window
      for (let i = 0; i < stream.length - 8; i++) {
        if (random() < 0.3) {
          const j = i + 1 + Math.floor(random() * 8)
          const a = stream[i] as number
          stream[i] = stream[j] as number
          stream[j] = a
        }
      }
      const tracker = createSeqTracker({ windowSize: 64 })
      for (const seq of stream) tracker.record('dev', seq, 'run')
      const seen = new Set(stream)
      const highest = Math.max(...stream)
      const lowest = Math.min(...stream)
      expect(tracker.totals()).toMatchObject({
        received: stream.length,
        unique: seen.size,
        duplicates: stream.length - seen.size,
        gaps: highest - lowest + 1 - seen.size,
        stale: 0
      })
    }
  })
})
