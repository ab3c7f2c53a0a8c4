// The consumer's session says so when the broker accepts its connection but never answers its SUBSCRIBE
// (as a cluster on Redis did for a persistent session with two filters): an error line, not a silent zero.
import { once } from 'node:events'
import { createServer } from 'node:net'
import { Writable } from 'node:stream'
import { Aedes } from 'aedes'
import { pino } from 'pino'
import { expect, it } from 'vitest'
import { openSession } from '../../apps/consumer/src/session.js'

it('logs an error when no SUBACK comes, and goes on when it does', async () => {
  const broker = await Aedes.createBroker()
  let answer: (() => void) | undefined
  // a broker that holds the SUBSCRIBE until the test lets it through
  broker.authorizeSubscribe = (_client, sub, done) => { answer = () => done(null, sub) }
  const server = createServer(broker.handle)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  const lines: Array<{ level: number, msg: string }> = []
  let onLine = (): void => {}
  const sink = new Writable({
    write (chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter((x) => x !== '')) lines.push(JSON.parse(l) as { level: number, msg: string })
      onLine()
      done()
    }
  })
  const session = openSession({ url: `mqtt://127.0.0.1:${port}`, clientId: 'suback-1', subscriptions: ['a/#'], qos: 1, reconnect: { minMs: 20, maxMs: 100 }, subackWarnMs: 200 },
    pino({ level: 'info' }, sink), { onMessage: () => {} })
  try {
    await new Promise<void>((resolve) => { onLine = () => { if (lines.some((l) => l.msg.startsWith('no SUBACK'))) resolve() }; onLine() })
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
