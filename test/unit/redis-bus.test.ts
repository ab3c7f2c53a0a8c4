// The cluster bus's tuning of mqemitter-redis, against a stand-in for its two Redis connections: local
// delivery, the echo and duplicate drops, and what arrives on a channel without being a bus message.
import { EventEmitter } from 'node:events'
import { describe, expect, it } from 'vitest'
import { encodeEnvelope } from '../../apps/broker/src/store/bus-codec.js'
import { tuneRedisBus } from '../../apps/broker/src/store/redis-bus.js'

interface Msg { topic: string, payload?: unknown }

function fakeBus () {
  const published: Array<{ channel: string, message: Buffer }> = []
  const delivered: Msg[] = []
  const subConn = new EventEmitter()
  // what mqemitter-redis installs: replaced by the tuning
  subConn.on('messageBuffer', () => { throw new Error('the original handler ran') })
  subConn.on('pmessageBuffer', () => { throw new Error('the original handler ran') })
  const mq = {
    closed: false,
    emit (): void { throw new Error('the original emit ran') },
    _emit (msg: Msg, done?: (err?: Error | null) => void): void { delivered.push(msg); done?.() },
    _onError (err?: Error | null): void { if (err) throw err },
    pubConn: { publish: async (channel: string, message: Buffer) => { published.push({ channel, message }); return 1 } },
    subConn
  }
  const stats = tuneRedisBus(mq)
  const emit = (msg: Msg): Promise<void> => new Promise((resolve, reject) => {
    (mq.emit as (m: Msg, d: (e?: Error | null) => void) => void)(msg, (err) => err ? reject(err) : resolve())
  })
  const fromRedis = (channel: string, message: Buffer, pattern?: string): void => {
    if (pattern === undefined) subConn.emit('messageBuffer', Buffer.from(channel), message)
    else subConn.emit('pmessageBuffer', Buffer.from(pattern), Buffer.from(channel), message)
  }
  return { mq, stats, published, delivered, emit, fromRedis }
}

describe('tuneRedisBus', () => {
  it('delivers a client message here at once, publishes it for the others, and drops its echo unread', async () => {
    const b = fakeBus()
    await b.emit({ topic: 'a/b', payload: Buffer.from('x') })
    expect(b.delivered).toEqual([{ topic: 'a/b', payload: Buffer.from('x') }])
    expect(b.published).toHaveLength(1)
    b.fromRedis('a/b', b.published[0]!.message)
    b.fromRedis('a/b', b.published[0]!.message, 'a/*')
    expect(b.delivered).toHaveLength(1)
    expect(b.stats).toEqual({ sent: 1, received: 0 })
  })

  it('sends broker topics round through Redis, and delivers what comes back once', async () => {
    const b = fakeBus()
    await b.emit({ topic: '$SYS/x/heartbeat', payload: 'h' })
    expect(b.delivered).toEqual([])
    const { channel, message } = b.published[0]!
    b.fromRedis(channel, message)
    b.fromRedis(channel, message, '$SYS/*')
    expect(b.delivered).toEqual([{ topic: '$SYS/x/heartbeat', payload: 'h' }])
    expect(b.stats).toEqual({ sent: 0, received: 0 })
  })

  it('delivers another process\'s message once, even when a channel and a pattern both match', () => {
    const b = fakeBus()
    const other = encodeEnvelope('another-process-1', { topic: 'a/b', payload: Buffer.from('y') })
    b.fromRedis('a/b', other)
    b.fromRedis('a/b', other, 'a/*')
    expect(b.delivered).toEqual([{ topic: 'a/b', payload: Buffer.from('y') }])
    expect(b.stats.received).toBe(1)
  })

  it.each([
    ['a registry announcement', Buffer.from('2')],
    ['a short message that starts like an envelope', Buffer.from([0x82, 0xa2, 0x69, 0x64, 0xbf, 0x41])],
    ['an envelope without a topic', encodeEnvelope('i', { topic: 'x' }).subarray(0, 10)]
  ])('ignores %s on a channel it listens to, without throwing', (_w, message) => {
    const b = fakeBus()
    expect(() => { b.fromRedis('warden:registry:changed', message, '*') }).not.toThrow()
    expect(b.delivered).toEqual([])
  })

  it('tells the publisher when Redis refuses the message', async () => {
    const b = fakeBus()
    b.mq.pubConn.publish = async () => { throw new Error('Redis is gone') }
    await expect(b.emit({ topic: 'a/b', payload: 'z' })).rejects.toThrow('Redis is gone')
  })
})
