// What the apps write to pm2's log: the broker's client connects and disconnects at info, sampled under a storm;
// readable lines with ISO times under WARDEN_LOG_FORMAT=pretty; a bad WARDEN_LOG_FORMAT stops the start.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { Writable } from 'node:stream'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterEach, beforeEach, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { createAuditSampler } from '../../apps/broker/src/audit/audit-sampler.js'
import { logConnections } from '../../apps/broker/src/observe/connection-log.js'
import { startBareBroker } from '../helpers/bare-aedes.js'
import { baseConfig } from '../helpers/broker.js'
import { connect } from '../helpers/mqtt.js'
import { startApp, type AppProcess } from '../helpers/process.js'

let dir: string
const apps: AppProcess[] = []
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'warden-logs-')) })
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.stop()))
  await rm(dir, { recursive: true, force: true })
})

async function broker (env: Record<string, string> = {}): Promise<AppProcess> {
  const config = join(dir, 'warden.yaml')
  await writeFile(config, stringify({ ...await baseConfig(), log: { level: 'info' } }))
  const app = startApp('broker', { WARDEN_CONFIG: config, WARDEN_MQTT_PORT: '0', WARDEN_HTTP_PORT: '0', WARDEN_DATA_DIR: join(dir, 'data'), ...env })
  apps.push(app)
  return app
}

it('logs each client connect and disconnect at info, with its account and address', async () => {
  const app = await broker()
  await app.ready()
  const listening = await app.waitForLog((l) => l.msg === 'broker listening')
  const c = await connect(`mqtt://${String(listening.mqtt)}`, 'sensor-1', { clientId: 'log-me' })
  expect(await app.waitForLog((l) => l.msg === 'client connected' && l.clientId === 'log-me'))
    .toMatchObject({ level: 30, username: 'sensor-1', address: '127.0.0.1' })
  await c.end()
  expect(await app.waitForLog((l) => l.msg === 'client disconnected' && l.clientId === 'log-me'))
    .toMatchObject({ level: 30, username: 'sensor-1' })
})

it('samples connect lines under a storm like the audit does, and says how many it left out', async () => {
  const bare = await startBareBroker()
  const lines: Array<Record<string, unknown>> = []
  let onLine = (): void => {}
  const logger = pino({ level: 'info' }, new Writable({
    write (chunk: Buffer, _enc, done) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); onLine(); done() }
  }))
  const connected = (n: number): Promise<void> => new Promise((resolve) => {
    onLine = () => { if (lines.filter((l) => l.msg === 'client connected').length >= n) resolve() }
    onLine()
  })
  let now = 0
  const clients = []
  try {
    logConnections(bare.broker, logger, { usernameOf: () => undefined, sampler: createAuditSampler({ perSecond: 1, burst: 2 }), now: () => now })
    let gone = 0
    // the 'client' event of each: 2 are written, the other 3 left out (the clock stands still)
    const all = new Promise<void>((resolve) => bare.broker.on('client', () => { if (++gone === 5) resolve() }))
    for (let i = 0; i < 5; i++) clients.push(await connect(`mqtt://127.0.0.1:${bare.port}`, undefined, { clientId: `storm-${i}` }))
    await all
    expect(lines.filter((l) => l.msg === 'client connected').map((l) => l.clientId)).toEqual(['storm-0', 'storm-1'])
    now += 1000
    clients.push(await connect(`mqtt://127.0.0.1:${bare.port}`, undefined, { clientId: 'after' }))
    await connected(3)
    expect(lines.filter((l) => l.msg === 'client connected')[2]).toMatchObject({ clientId: 'after', suppressed: 3 })
  } finally {
    await Promise.all(clients.map((c) => c.end()))
    await bare.close()
  }
})

it('writes readable lines with ISO times under WARDEN_LOG_FORMAT=pretty', async () => {
  const app = await broker({ WARDEN_LOG_FORMAT: 'pretty' })
  await app.ready()
  const line = app.output.find((l) => l.includes('broker listening'))
  expect(line).toMatch(/^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] INFO \(warden-broker\/\d+\): broker listening \{.*"mqtt":"127\.0\.0\.1:\d+"/)
  // no JSON lines at all
  expect(app.output.filter((l) => l.startsWith('{'))).toEqual([])
})

it.each(['broker', 'producer', 'consumer'] as const)('%s: a bad WARDEN_LOG_FORMAT is a start-up error naming it, exit 1', async (name) => {
  // the demo configs: the variable is refused before anything is opened
  const app = name === 'broker'
    ? await broker({ WARDEN_LOG_FORMAT: 'fancy' })
    : startApp(name, { WARDEN_CONFIG: `config/${name}.yaml`, WARDEN_LOG_FORMAT: 'fancy' })
  if (name !== 'broker') apps.push(app)
  expect((await app.exited()).code).toBe(1)
  expect(app.stderr).toContain('warden: WARDEN_LOG_FORMAT: must be one of json, pretty, got "fancy"')
})
