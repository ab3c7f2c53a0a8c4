// The presence sweep's choice (groups/presence-sweep.ts) on a real Redis, with short periods: of the processes
// silent past their presence TTL, one no longer listening on its live channel is gone at once; one still listening
// (stopped) is kept until seen so for `stoppedMaxMs`, or until heard of again; none is gone while this process's own
// live channel has no subscriber (Redis restarted, its bus reconnecting).
import { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { createPresenceSweep, type SilentState } from '../../apps/broker/src/groups/presence-sweep.js'
import { useSharedRedis } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'

const redis = useSharedRedis()
const scope = useScope()
const channelOf = (b: string): string => `$WARDEN/share/ack/${b}`
const STOPPED_MAX_MS = 600

interface Run { sweeps: Array<readonly string[]>, events: Array<[string, SilentState, number]>, errors: unknown[], live: Set<string> }

/** a sweep of `self` every 50 ms over `candidates`, the processes in `live` alive; the channels in `listening` subscribed */
async function sweepOver (candidates: readonly string[], listening: readonly string[]): Promise<Run> {
  const r = new Redis(redis.url)
  const sub = new Redis(redis.url)
  scope.defer(() => { r.disconnect(); sub.disconnect() })
  await sub.subscribe(...listening.map(channelOf))
  const run: Run = { sweeps: [], events: [], errors: [], live: new Set(['self']) }
  const sweep = createPresenceSweep({
    redis: r,
    self: 'self',
    channelOf,
    live: async () => new Set(run.live),
    candidates: () => candidates,
    onSweep: async (gone) => { run.sweeps.push(gone) },
    onSilent: (b, state) => run.events.push([b, state, Date.now()]),
    onError: (err) => run.errors.push(err),
    everyMs: 50,
    stoppedMaxMs: STOPPED_MAX_MS
  })
  scope.defer(() => { sweep.close(); expect(run.errors).toEqual([]) })
  return run
}

describe('the presence sweep', () => {
  it('takes a silent process no longer listening for gone at once; keeps one still listening until seen so for stoppedMaxMs', async () => {
    const run = await sweepOver(['stopped', 'dead'], ['self', 'stopped'])
    await expect.poll(() => run.sweeps.length).toBeGreaterThan(0)
    expect(run.sweeps[0]).toEqual(['dead'])
    expect(run.events.map(([b, s]) => [b, s])).toEqual([['stopped', 'stopped']])
    await expect.poll(() => run.sweeps.at(-1), { timeout: STOPPED_MAX_MS * 5 }).toEqual(['stopped', 'dead'])
    const [, , keptAt] = run.events[0] as [string, SilentState, number]
    const [, givenUp, at] = run.events.find(([, s]) => s === 'given-up') ?? []
    expect(givenUp).toBe('given-up')
    expect(Number(at) - keptAt).toBeGreaterThanOrEqual(STOPPED_MAX_MS)
  })

  it('keeps a stopped process that is heard of again', async () => {
    const run = await sweepOver(['stopped'], ['self', 'stopped'])
    await expect.poll(() => run.events.length).toBe(1)
    run.live.add('stopped')
    await expect.poll(() => run.events.map(([b, s]) => [b, s])).toEqual([['stopped', 'stopped'], ['stopped', 'resumed']])
    const n = run.sweeps.length
    await expect.poll(() => run.sweeps.length, { timeout: STOPPED_MAX_MS * 5 }).toBeGreaterThan(n + STOPPED_MAX_MS / 50)
    expect(run.sweeps.flat()).toEqual([])
  })

  it('takes nobody for gone while its own live channel has no subscriber', async () => {
    const run = await sweepOver(['stopped', 'dead'], ['stopped'])
    await expect.poll(() => run.sweeps.length, { timeout: STOPPED_MAX_MS * 5 }).toBeGreaterThan(STOPPED_MAX_MS / 50 + 2)
    expect(run.sweeps.flat()).toEqual([])
    expect(run.events).toEqual([])
  })
})
