// mergeHistories: the chart's history of a cluster, as the live samples sum it.
import { describe, expect, it } from 'vitest'
import { mergeHistories } from '../../apps/broker/src/http/cluster-events.js'

const s = (ts: number, r: number, clients = 1): { ts: number, clients: number, receivedPerSecond: number, sentPerSecond: number } =>
  ({ ts, clients, receivedPerSecond: r, sentPerSecond: r * 2 })

describe('mergeHistories', () => {
  it('adds to each of this worker\'s samples each other worker\'s latest at or before it, once', () => {
    const mine = [s(1000, 1), s(2000, 2), s(3000, 3)]
    const other = [s(900, 10), s(1900, 20), s(2100, 30), s(2900, 40)]
    expect(mergeHistories(mine, [other], 1500)).toEqual([
      s(1000, 11, 2), s(2000, 22, 2), s(3000, 43, 2)
    ])
  })

  it('leaves out a worker whose latest sample is older than staleMs, or that had none yet', () => {
    const mine = [s(1000, 1), s(5000, 1)]
    expect(mergeHistories(mine, [[s(2000, 5)], [s(4800, 7)]], 1500)).toEqual([s(1000, 1), s(5000, 8, 2)])
  })

  it('is this worker\'s history alone with no other worker', () => {
    const mine = [s(1000, 1.234), s(2000, 2)]
    expect(mergeHistories(mine, [], 1500)).toEqual([{ ts: 1000, clients: 1, receivedPerSecond: 1.23, sentPerSecond: 2.47 }, s(2000, 2)])
  })
})
