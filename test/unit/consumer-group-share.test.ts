// A group member's share of the stream over a summary window (group-share.ts), beside the cumulative one.
import { describe, expect, it } from 'vitest'
import { createShareWindow, cumulativeShare } from '../../apps/consumer/src/group-share.js'
import { createSeqTracker } from '../../apps/consumer/src/seq-tracker.js'

/** a member's tracker and window, fed as the stats book feeds them */
function member () {
  const tracker = createSeqTracker({ windowSize: 4096 })
  const window = createShareWindow()
  return {
    got (seqs: Iterable<number>, device = 'd1', run?: string): void {
      for (const seq of seqs) window.observe(device, seq, tracker.record(device, seq, run))
    },
    roll: () => window.roll(),
    cumulative: () => cumulativeShare(tracker.snapshot())
  }
}

/** every `step`-th seq from `from` to `to` */
const every = (step: number, from: number, to: number): number[] => {
  const out: number[] = []
  for (let s = from; s <= to; s += step) out.push(s)
  return out
}

describe('a group member\'s share over a summary window', () => {
  it('follows a change of membership from the next window, where the cumulative share lags', () => {
    const m = member()
    // alone in the group: every seq
    m.got(every(1, 1, 300))
    expect(m.roll()).toEqual({ unique: 299, seqSpan: 299, ratio: 1 })
    // two members join: one seq in three
    m.got(every(3, 303, 900))
    expect(m.roll()).toEqual({ unique: 200, seqSpan: 600, ratio: 0.333 })
    // since the start: 500 of 900
    expect(m.cumulative()).toEqual({ unique: 500, seqSpan: 900, ratio: 0.556 })
  })

  it('spans, per device, from the highest the member had when the window began', () => {
    const m = member()
    m.got([10, 12], 'a')
    m.roll()
    // a: 12 → 20, two of the eight seqs; b: new in this window, its first message is where it starts
    m.got([16, 20], 'a')
    m.got([5, 7, 9], 'b')
    expect(m.roll()).toEqual({ unique: 4, seqSpan: 8 + 4, ratio: 0.333 })
  })

  it.each([
    ['nothing received', [], { unique: 0, seqSpan: 0, ratio: 0 }],
    ['a duplicate', [12], { unique: 0, seqSpan: 0, ratio: 0 }],
    ['a late message within the window\'s span', [15, 13], { unique: 2, seqSpan: 3, ratio: 0.667 }],
    ['a late message from before the window', [15, 11], { unique: 1, seqSpan: 3, ratio: 0.333 }]
  ])('counts %s', (_, seqs, share) => {
    const m = member()
    m.got([10, 12])
    m.roll()
    m.got(seqs)
    expect(m.roll()).toEqual(share)
  })

  it('keeps what went by before a producer restart in the window, and starts the device again after it', () => {
    const m = member()
    m.got([10, 13, 16], 'd1', 'run-1')
    m.roll()
    // 16 → 22 in run 1, then the producer starts over at 1 (a reset: the new baseline)
    m.got([19, 22], 'd1', 'run-1')
    m.got([1, 4, 7], 'd1', 'run-2')
    expect(m.roll()).toEqual({ unique: 4, seqSpan: 6 + 6, ratio: 0.333 })
  })

  it('starts at the first message of this process: counters resumed from an earlier run do not reach into the window', () => {
    // an earlier run got seqs 1 to 100; this one resumes its counters but not its window (what went by while
    // it was down is in neither window)
    const earlier = createSeqTracker({ windowSize: 4096 })
    for (const seq of every(1, 1, 100)) earlier.record('d1', seq)
    const tracker = createSeqTracker({ windowSize: 4096 })
    tracker.restore(earlier.snapshot())
    const window = createShareWindow()
    for (const seq of every(3, 400, 700)) window.observe('d1', seq, tracker.record('d1', seq))
    expect(window.roll()).toEqual({ unique: 100, seqSpan: 300, ratio: 0.333 })
    expect(cumulativeShare(tracker.snapshot()).ratio).toBeLessThan(0.3)
  })
})
