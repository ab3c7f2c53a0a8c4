// `npx pm2 scale consumer 3` with WARDEN_CONSUMER_GROUP set: three consumers share the devices' stream.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { deploy, type ConsumerSummary, type Deployment } from '../helpers/pm2.js'
import { waitUntil } from '../helpers/ports.js'

type GroupSummary = ConsumerSummary & { group?: string, share?: { unique: number, seqSpan: number, ratio: number } }

let d: Deployment

// two devices for three members: with as many devices as members publishing in a regular rhythm, round
// robin could give each member one device's whole sequence (a share of 1 for a third of the stream)
beforeAll(async () => { d = await deploy({ devices: 2, rate: 20, qos: 1, env: { WARDEN_CONSUMER_GROUP: 'workers' } }) }, 120_000)
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
}, 120_000)
