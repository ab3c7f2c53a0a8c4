// `npx pm2 scale consumer 3` with WARDEN_CONSUMER_GROUP set: three consumers share the devices' stream.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { deploy, type ConsumerSummary, type Deployment } from '../helpers/pm2.js'
import { waitUntil } from '../helpers/ports.js'

interface Share { unique: number, seqSpan: number, ratio: number }
type GroupSummary = ConsumerSummary & { group?: string, share?: Share, shareWindow?: Share, windowMs: number, writtenAt: string }

let d: Deployment

// two devices for three members: with as many devices as members publishing in a regular rhythm, round
// robin could give each member one device's whole sequence (a share of 1 for a third of the stream)
// summaries every 2 s: a window holds a few dozen messages per member (every 250 ms, three or so)
beforeAll(async () => {
  d = await deploy({ devices: 2, rate: 20, qos: 1, env: { WARDEN_CONSUMER_GROUP: 'workers', WARDEN_SUMMARY_INTERVAL_MS: '2000' } })
}, 120_000)
afterAll(async () => { await d?.destroy() }, 60_000)

const summaryOf = async (instance: number): Promise<GroupSummary> =>
  JSON.parse(await readFile(join(d.dir, 'logs', `consumer-summary-${instance}.json`), 'utf8')) as GroupSummary

it('splits the stream between the instances pm2 scales the consumer to', async () => {
  await waitUntil(async () => { const s = await summaryOf(0); return s.received >= 30 ? s : undefined }, 'the first consumer to receive messages')
  await d.pm2('scale', 'consumer', '3')
  await waitUntil(async () => {
    const c = (await d.apps()).filter((a) => a.name === 'consumer' && a.pm2_env.status === 'online')
    return c.length === 3 ? c : undefined
  }, 'three consumer instances online')
  // the newcomers have each received a message: the group has three members from here on
  const joined = await waitUntil(async () => {
    const s = await Promise.all([1, 2].map(async (i) => await summaryOf(i).catch(() => undefined)))
    return s.every((x) => (x?.received ?? 0) > 0) ? Date.now() : undefined
  }, 'the new instances to receive messages', 60_000)
  // each its own process under pm2, no cluster primary in between
  for (const c of (await d.apps()).filter((a) => a.name === 'consumer')) expect(c.pm2_env.exec_mode).toBe('fork_mode')
  const before = await Promise.all([0, 1, 2].map(async (i) => await summaryOf(i).catch(() => undefined)))
  const after = await waitUntil(async () => {
    const s = await Promise.all([0, 1, 2].map(summaryOf))
    // each got at least 20 more since all three ran
    return s.every((x, i) => x.received >= (before[i]?.received ?? 0) + 20) ? s : undefined
  }, 'every instance to get its share', 60_000)
  for (const s of after) expect(s).toMatchObject({ group: 'workers', gaps: 0, duplicates: 0 })
  // the newcomers saw only part of the sequence numbers go by
  expect(after[1]?.share?.ratio).toBeLessThan(0.7)
  expect(after[2]?.share?.ratio).toBeLessThan(0.7)
  // the first instance's share over a window that began once all three were members: about a third, where its
  // share since it started still counts the time it was alone
  const first = await waitUntil(async () => {
    const s = await summaryOf(0)
    return Date.parse(s.writtenAt) - s.windowMs >= joined && (s.shareWindow?.unique ?? 0) >= 15 ? s : undefined
  }, 'a summary window of the first instance with three members', 60_000)
  expect(Math.abs((first.shareWindow?.ratio ?? 0) - 1 / 3)).toBeLessThan(0.1)
  expect(first.share?.ratio).toBeGreaterThan(first.shareWindow?.ratio ?? 1)
}, 120_000)
