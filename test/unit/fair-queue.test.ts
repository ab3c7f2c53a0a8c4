// The verification queue shared between source addresses: round-robin, bounded, skips abandoned work.
import { describe, expect, it } from 'vitest'
import { createFairQueue, type FairTask } from '../../apps/broker/src/limits/fair-queue.js'

function task (address: string, username: string, log: string[], opts: { gone?: () => boolean, hold?: Promise<void> } = {}): FairTask {
  return {
    address,
    username,
    cancelled: opts.gone ?? (() => false),
    run: async () => { log.push(`${address}:${username}`); await opts.hold },
    skipped: () => log.push(`skipped ${address}:${username}`)
  }
}
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe('fair queue', () => {
  it('serves the least-served address first: a late address goes next, not after the flood; busy ones alternate', async () => {
    const log: string[] = []
    const q = createFairQueue({ concurrency: 1, perUser: 10 })
    for (let i = 0; i < 5; i++) q.push(task('flood', `u${i}`, log))
    q.push(task('device', 'd', log))
    for (let i = 0; i < 10 && q.waiting + q.running > 0; i++) await settle()
    expect(log.slice(0, 3)).toEqual(['flood:u0', 'device:d', 'flood:u1'])
    const log2: string[] = []
    const q2 = createFairQueue({ concurrency: 1, perUser: 10 })
    for (let i = 0; i < 3; i++) { q2.push(task('a', `a${i}`, log2)); q2.push(task('b', `b${i}`, log2)) }
    for (let i = 0; i < 20 && q2.waiting + q2.running > 0; i++) await settle()
    // two busy addresses take turns
    expect(log2.map((l) => l[0]).join('')).toMatch(/^(ab|ba){3}$/)
  })

  it('drops work whose requester has gone without running it', async () => {
    const log: string[] = []
    const q = createFairQueue({ concurrency: 1, perUser: 10 })
    let release!: () => void
    q.push(task('a', 'x', log, { hold: new Promise((resolve) => { release = resolve }) }))
    q.push(task('a', 'y', log, { gone: () => true }))
    q.push(task('a', 'z', log))
    release()
    for (let i = 0; i < 10 && q.waiting + q.running > 0; i++) await settle()
    expect(log).toEqual(['a:x', 'skipped a:y', 'a:z'])
  })

  it('runs at most perUser verifications of one username at once; the others wait, then run', async () => {
    const log: string[] = []
    const q = createFairQueue({ concurrency: 4, perUser: 1 })
    let release!: () => void
    q.push(task('a', 'alice', log, { hold: new Promise((resolve) => { release = resolve }) }))
    q.push(task('b', 'alice', log))
    q.push(task('c', 'bob', log))
    await settle()
    expect(log).toEqual(['a:alice', 'c:bob'])
    release()
    for (let i = 0; i < 10 && q.waiting + q.running > 0; i++) await settle()
    expect(log).toEqual(['a:alice', 'c:bob', 'b:alice'])
  })
})
