// QoS 2 delivery on PUBLISH: once per packet id until PUBREL, and the unreleased ids carried over a restart.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { IPublishPacket } from 'mqtt'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createQos2Inbox } from '../../apps/consumer/src/incoming-store.js'
import { saveUnreleasedIds, takeUnreleasedIds } from '../../apps/consumer/src/qos2-state-file.js'

const publish = (messageId: number, seq: number): IPublishPacket =>
  ({ cmd: 'publish', qos: 2, dup: false, retain: false, topic: 'devices/d/telemetry', payload: Buffer.from(`{"seq":${seq}}`), messageId })

function inboxWith (carried: number[] = []) {
  const delivered: number[] = []
  const inbox = createQos2Inbox((p) => delivered.push(JSON.parse(p.payload.toString()).seq), carried)
  const put = (p: IPublishPacket) => new Promise<void>((resolve) => inbox.store.put(p, () => resolve()))
  const release = (messageId: number) => new Promise<IPublishPacket | undefined>((resolve) =>
    inbox.store.get({ messageId }, (_err, p) => {
      inbox.store.del({ messageId }, () => {})
      resolve(p as IPublishPacket | undefined)
    }))
  return { inbox, delivered, put, release }
}

describe('QoS 2 inbox', () => {
  it('delivers on PUBLISH, once, even when the broker resends it before PUBREL', async () => {
    const { inbox, delivered, put, release } = inboxWith()
    await put(publish(7, 1))
    await put({ ...publish(7, 1), dup: true })
    expect(delivered).toEqual([1])
    expect(inbox.unreleased()).toEqual([7])
    expect((await release(7))?.messageId).toBe(7)
    expect(inbox.unreleased()).toEqual([])
    // after PUBREL the id is free for a new message
    await put(publish(7, 2))
    expect(delivered).toEqual([1, 2])
  })

  it('does not redeliver an id carried over from the previous run, and frees it on PUBREL', async () => {
    const { inbox, delivered, put, release } = inboxWith([7, 8])
    await put({ ...publish(7, 1), dup: true })
    expect(delivered).toEqual([])
    // PUBREL for a packet the previous run stored: nothing to hand over, but the id is released
    expect(await release(8)).toBeUndefined()
    expect(inbox.unreleased()).toEqual([7])
    await put(publish(8, 5))
    expect(delivered).toEqual([5])
  })

  it('forgets carried ids when the broker starts a new session', async () => {
    const { inbox, delivered, put } = inboxWith([7])
    inbox.forget()
    await put(publish(7, 3))
    expect(delivered).toEqual([3])
  })
})

describe('QoS 2 state file', () => {
  let dir: string
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'warden-consumer-qos2-')) })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('round-trips ids and deletes the file on reading, so a crash cannot replay stale ids', async () => {
    const path = join(dir, 'sub', 'state.json')
    await saveUnreleasedIds(path, 'mqtt://h:1', 'c1', [3, 4])
    expect(takeUnreleasedIds(path, 'mqtt://h:1', 'c1')).toEqual([3, 4])
    expect(existsSync(path)).toBe(false)
    expect(takeUnreleasedIds(path, 'mqtt://h:1', 'c1')).toEqual([])
  })

  it('ignores ids of another broker or client id, and writes nothing when there are none', async () => {
    const path = join(dir, 'state.json')
    await saveUnreleasedIds(path, 'mqtt://h:1', 'c1', [3])
    expect(takeUnreleasedIds(path, 'mqtt://h:1', 'c2')).toEqual([])
    await saveUnreleasedIds(path, 'mqtt://h:1', 'c1', [])
    expect(existsSync(path)).toBe(false)
  })

  it('drops invalid ids and throws on a torn file after removing it', () => {
    const path = join(dir, 'state.json')
    writeFileSync(path, JSON.stringify({ url: 'u', clientId: 'c', ids: [1, 0, 70000, 'x', 2.5, 65535] }))
    expect(takeUnreleasedIds(path, 'u', 'c')).toEqual([1, 65535])
    writeFileSync(path, '{"url"')
    expect(() => takeUnreleasedIds(path, 'u', 'c')).toThrow()
    expect(existsSync(path)).toBe(false)
  })
})
