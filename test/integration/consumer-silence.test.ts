// The consumer says so when the broker accepts its connection but never answers its SUBSCRIBE (as a cluster
// on Redis did for a persistent session with two filters), and when nothing arrives for a while: a line in
// its log, not a silent zero.
import { once } from 'node:events'
import { createServer } from 'node:net'
import { Writable } from 'node:stream'
import { Aedes } from 'aedes'
import { pino } from 'pino'
import { expect, it } from 'vitest'
import { openSession } from '../../apps/consumer/src/session.js'
import { validateConsumerConfig } from '../../apps/consumer/src/config.js'
import { createConsumer } from '../../apps/consumer/src/consumer.js'

interface LogLine { level: number, msg: string }

/** a pino destination that keeps the parsed lines, and a wait for a condition on them */
function captureLog (): { lines: LogLine[], sink: Writable, until (pred: () => boolean): Promise<void> } {
  const lines: LogLine[] = []
  let onLine = (): void => {}
  const sink = new Writable({
    write (chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter((x) => x !== '')) lines.push(JSON.parse(l) as LogLine)
      onLine()
      done()
    }
  })
  const until = (pred: () => boolean): Promise<void> => new Promise((resolve) => { onLine = () => { if (pred()) resolve() }; onLine() })
  return { lines, sink, until }
}

it('logs an error when no SUBACK comes, and goes on when it does', async () => {
  const broker = await Aedes.createBroker()
  let answer: (() => void) | undefined
  // a broker that holds the SUBSCRIBE until the test lets it through
  broker.authorizeSubscribe = (_client, sub, done) => { answer = () => done(null, sub) }
  const server = createServer(broker.handle)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  const { lines, sink, until } = captureLog()
  const session = openSession({
    url: `mqtt://127.0.0.1:${port}`, clientId: 'suback-1', subscriptions: ['a/#'], qos: 1, reconnect: { minMs: 20, maxMs: 100 }, subackWarnMs: 200
  }, pino({ level: 'info' }, sink), { onMessage: () => {} })
  try {
    await until(() => lines.some((l) => l.msg.startsWith('no SUBACK')))
    expect(lines.filter((l) => l.msg.startsWith('no SUBACK'))).toMatchObject([{ level: 50 }])
    answer?.()
    await session.ready
    expect(lines.some((l) => l.msg === 'subscribed')).toBe(true)
  } finally {
    await session.close()
    await new Promise<void>((resolve) => broker.close(() => resolve()))
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
})

it('warns once when no message arrives for silenceWarnMs, and again after messages stop anew', async () => {
  const broker = await Aedes.createBroker()
  const server = createServer(broker.handle)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  const { lines, sink, until } = captureLog()
  const silences = (): number => lines.filter((l) => l.msg.startsWith('no message received')).length
  const summaries = (): number => lines.filter((l) => l.msg === 'summary').length
  const config = validateConsumerConfig({
    broker: { url: `mqtt://127.0.0.1:${port}` },
    clientId: 'quiet-1',
    subscriptions: ['devices/+/telemetry'],
    qos: 1,
    output: { stdout: false },
    summaryIntervalMs: 100,
    silenceWarnMs: 300,
    reconnect: { minMs: 20, maxMs: 100 }
  }, 'test')
  const consumer = createConsumer(config, pino({ level: 'info' }, sink))
  try {
    await consumer.ready
    await until(() => silences() === 1)
    expect(lines.find((l) => l.msg.startsWith('no message received'))).toMatchObject({ level: 40 })
    // once per silence: several summaries later, still one warning
    const at = summaries()
    await until(() => summaries() >= at + 5)
    expect(silences()).toBe(1)
    // a message ends the silence; the next one is reported again
    const packet = { cmd: 'publish', topic: 'devices/d1/telemetry', payload: Buffer.from('{}'), qos: 0, retain: false, dup: false } as const
    await new Promise<void>((resolve) => broker.publish(packet, () => resolve()))
    await until(() => silences() === 2)
  } finally {
    await consumer.close()
    await new Promise<void>((resolve) => broker.close(() => resolve()))
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
})
