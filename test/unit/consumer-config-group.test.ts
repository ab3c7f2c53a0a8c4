// The consumer's group setting: config key and WARDEN_CONSUMER_GROUP, and one client id and one set of
// files per pm2 instance (NODE_APP_INSTANCE) in group mode.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadConsumerConfig } from '../../apps/consumer/src/config.js'
import { createStatsBook } from '../../apps/consumer/src/stats.js'
import { parseMessage } from '../../apps/consumer/src/message-record.js'

const base = `
broker: { url: "mqtt://127.0.0.1:1883" }
clientId: test-consumer
subscriptions: ["devices/+/telemetry"]
output: { file: logs/messages.log }
summaryFile: logs/summary.json
stateFile: data/qos2.json
`

describe('consumer group config', () => {
  let dir: string
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'warden-consumer-group-')) })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))
  const load = (yaml: string, env: Record<string, string> = {}) => {
    writeFileSync(join(dir, 'consumer.yaml'), yaml)
    return loadConsumerConfig({ env: { WARDEN_CONFIG: 'consumer.yaml', ...env }, cwd: dir })
  }

  it('has no group unless asked, and then ignores NODE_APP_INSTANCE', () => {
    const c = load(base, { NODE_APP_INSTANCE: '2' })
    expect(c.group).toBeUndefined()
    expect(c.clientId).toBe('test-consumer')
    expect(c.summaryFile).toBe(join(dir, 'logs/summary.json'))
  })

  it('takes the group from the file or WARDEN_CONSUMER_GROUP, which wins', () => {
    expect(load(base + 'group: from-file\n').group).toBe('from-file')
    expect(load(base + 'group: from-file\n', { WARDEN_CONSUMER_GROUP: 'from-env' }).group).toBe('from-env')
  })

  it('gives each pm2 instance of a group its own client id and files', () => {
    const c = load(base, { WARDEN_CONSUMER_GROUP: 'workers', NODE_APP_INSTANCE: '2' })
    expect(c).toMatchObject({
      group: 'workers',
      clientId: 'test-consumer-2',
      output: { file: join(dir, 'logs/messages-2.log') },
      summaryFile: join(dir, 'logs/summary-2.json'),
      stateFile: join(dir, 'data/qos2-2.json')
    })
  })

  it.each(['a/b', 'a+', '#', 'a b'])('refuses the group name %j, naming the key', (group) => {
    expect(() => load(base, { WARDEN_CONSUMER_GROUP: group })).toThrow(/group/)
  })
})

describe('a group member\'s summary', () => {
  const msg = (seq: number, device = 'd1') =>
    parseMessage(`devices/${device}/telemetry`, Buffer.from(JSON.stringify({ deviceId: device, seq, ts: 0 })), { qos: 1, retain: false, dup: false }, 0)

  it('counts no gaps and gives the share of the seqs it saw go by, since the start and over the window', () => {
    const book = createStatsBook({ qos: 1, seqWindow: 4096, startedAt: 0, group: 'workers' })
    for (let seq = 1; seq <= 30; seq += 3) book.observe(msg(seq))
    for (let seq = 2; seq <= 20; seq += 3) book.observe(msg(seq, 'd2'))
    const s = book.summarize(1000)
    expect(s).toMatchObject({ group: 'workers', gaps: 0, unique: 17, share: { unique: 17, seqSpan: 28 + 19, ratio: Math.round(17 / 47 * 1000) / 1000 } })
    // over the window, each device's first message is where its span starts (consumer-group-share.test.ts)
    expect(s.shareWindow).toEqual({ unique: 9 + 6, seqSpan: 27 + 18, ratio: 0.333 })
    // the next window: nothing went by
    expect(book.summarize(2000)).toMatchObject({ share: s.share, shareWindow: { unique: 0, seqSpan: 0, ratio: 0 } })
  })

  it('is unchanged outside a group', () => {
    const book = createStatsBook({ qos: 1, seqWindow: 4096, startedAt: 0 })
    for (let seq = 1; seq <= 10; seq += 3) book.observe(msg(seq))
    const s = book.summarize(1000)
    expect(s.gaps).toBe(6)
    expect(s.group).toBeUndefined()
    expect(s.share).toBeUndefined()
    expect(s.shareWindow).toBeUndefined()
  })
})
