import { mkdtempSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'
import { Aedes } from 'aedes'
import { Level } from 'level'
import persistenceLevel from 'aedes-persistence-level'
import { connectAsync } from 'mqtt'
import { it, expect } from 'vitest'
import { createLogger } from '@warden/common'
import { validateConsumerConfig } from '/work/main/apps/consumer/src/config.js'
import { createConsumer } from '/work/main/apps/consumer/src/consumer.js'

it.each(Array.from({ length: 30 }, (_, i) => i))('qos2 restart %i', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'q2-'))
  const broker = await Aedes.createBroker({ persistence: persistenceLevel(new Level(join(dir, 'db'))) })
  const server = createServer(broker.handle); server.listen(0, '127.0.0.1'); await once(server, 'listening')
  const url = `mqtt://127.0.0.1:${(server.address() as any).port}`
  const cfg = validateConsumerConfig({ broker: { url }, clientId: 'q2', subscriptions: ['devices/+/telemetry'], qos: 2, output: { stdout: false, file: join(dir, 'm.log') }, summaryFile: join(dir, 's.json'), stateFile: join(dir, 'q2.json') }, 't')
  const logger = createLogger({ name: 't', level: 'silent' })
  const c1 = createConsumer(cfg, logger); await c1.ready
  const pub = await connectAsync(url, { clientId: 'p' })
  let fire: () => void = () => {}
  const stopped = new Promise<void>((resolve) => { fire = resolve })
  let closing = false
  c1.events.on('message', (r) => { if ((r.seq ?? 0) >= 100 && !closing) { closing = true; c1.close().then(fire) } })
  const ps = []
  for (let seq = 1; seq <= 300; seq++) ps.push(pub.publishAsync('devices/d/telemetry', JSON.stringify({ deviceId: 'd', seq, ts: Date.now() }), { qos: 2 }))
  await Promise.all(ps); await stopped
  const c2 = createConsumer(cfg, logger); await c2.ready
  await new Promise<void>((resolve) => { setTimeout(resolve, 3000); const chk = () => { if (c2.stats().device === undefined) {} ; const d = c2.device('d'); if (d && d.unique >= 300 && d.highest >= 300) resolve() }; c2.events.on('message', chk); chk() })
  const s = c2.stats()
  const c1s = c1.stats(); const saved = JSON.parse((await import('node:fs')).readFileSync(join(dir, 's.json'), 'utf8'))
  await c2.close()
  const lines = (await import('node:fs')).readFileSync(join(dir, 'm.log'), 'utf8').trim().split('\n').map((l: string) => JSON.parse(l))
  const seen = new Set(lines.map((l: any) => l.seq)); const missing = []; for (let i = 1; i <= 300; i++) if (!seen.has(i)) missing.push(i)
  if (s.unique !== 300) console.log('c1', JSON.stringify(c1s), 'dev', JSON.stringify(c2.device('d')), 'missing', missing, 'lines', lines.length, 'order', lines.slice(0, 5).map((l: any) => l.seq))
  await c2.close(); await pub.endAsync(); server.close(); await new Promise<void>((r) => broker.close(() => r()))
  expect({ gaps: s.gaps, dups: s.duplicates, unique: s.unique }).toEqual({ gaps: 0, dups: 0, unique: 300 })
})
