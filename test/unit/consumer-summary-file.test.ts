// Summary file: atomic replacement and the resume round trip.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { parseMessage } from '../../apps/consumer/src/message-record.js'
import { createStatsBook } from '../../apps/consumer/src/stats.js'
import { readSavedStats, writeSummaryFile } from '../../apps/consumer/src/summary-file.js'

const telemetry = (seq: number, ts = 1000) =>
  parseMessage('devices/d1/telemetry', Buffer.from(JSON.stringify({ deviceId: 'd1', run: 'r', seq, ts })), { qos: 1, retain: false, dup: false }, ts + 5)

describe('summary file', () => {
  let dir: string
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'warden-consumer-summary-')) })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('writes the summary atomically, leaving no temp file, and resumes from it', async () => {
    const book = createStatsBook({ qos: 1, seqWindow: 4096, startedAt: 0 })
    for (const seq of [1, 2, 2, 4]) book.observe(telemetry(seq))
    book.observe(parseMessage('devices/d1/telemetry', Buffer.from('garbage'), { qos: 1, retain: false, dup: false }, 10))
    const summary = book.summarize(2000)
    expect(summary).toMatchObject({
      received: 5, telemetry: 4, unique: 3, duplicates: 1, gaps: 1, malformed: 1, devices: 1, ratePerSec: 2.5, qos: 1, latency: { p50: 5, max: 5 }
    })

    const path = join(dir, 'nested', 'summary.json')
    await writeSummaryFile(path, { ...summary, perDevice: book.save().perDevice, writtenAt: 'now' })
    expect(readdirSync(join(dir, 'nested'))).toEqual(['summary.json'])
    expect(JSON.parse(readFileSync(path, 'utf8'))).toMatchObject({ gaps: 1, perDevice: { d1: { highest: 4, run: 'r' } } })

    const resumed = createStatsBook({ qos: 1, seqWindow: 4096, startedAt: 0 })
    resumed.restore(readSavedStats(path) ?? expect.fail('no saved stats'))
    expect(resumed.observe(telemetry(5))).toBe('next')
    expect(resumed.observe(telemetry(4))).toBe('duplicate')
    expect(resumed.totals()).toMatchObject({ received: 7, unique: 4, duplicates: 2, gaps: 1, malformed: 1 })
    expect(resumed.summarize(3000).latency).toEqual({ p50: 5, p90: 5, p99: 5, max: 5 })
  })

  it('returns undefined when there is no file and throws on an unusable one', () => {
    expect(readSavedStats(join(dir, 'absent.json'))).toBeUndefined()
    writeFileSync(join(dir, 'bad.json'), '{"perDevice":{"d1":{"highest":-1}}}')
    expect(() => readSavedStats(join(dir, 'bad.json'))).toThrow(/perDevice\.d1/)
    writeFileSync(join(dir, 'torn.json'), '{"perDev')
    expect(() => readSavedStats(join(dir, 'torn.json'))).toThrow()
  })

  it('counts duplicates delivered at QoS 2 separately', () => {
    const book = createStatsBook({ qos: 2, seqWindow: 64, startedAt: 0 })
    const q2 = (seq: number) =>
      parseMessage('devices/d1/telemetry', Buffer.from(JSON.stringify({ deviceId: 'd1', seq })), { qos: 2, retain: false, dup: false }, 0)
    book.observe(q2(1))
    book.observe(q2(1))
    expect(book.totals()).toMatchObject({ duplicates: 1, qos2Duplicates: 1 })
  })
})
