// The whole system as users run it: `pm2 start ecosystem.config.js` with the broker, the device fleet and the
// consumer, watched with mosquitto_sub, through a broker restart. Private PM2_HOME, free ports, own dirs.
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { freePort, waitUntil } from '../helpers/ports.js'
import { mosquittoSub } from '../helpers/mosquitto.js'
import { ROOT } from '../helpers/process.js'

const run = promisify(execFile)
const PM2 = resolve(ROOT, 'node_modules', '.bin', 'pm2')

let dir: string
let env: NodeJS.ProcessEnv
let mqttPort: number
let summaryFile: string

interface Summary { received: number, unique: number, gaps: number, duplicates: number, devices: number }
interface Pm2App { name: string, pid: number, pm2_env: { status: string, restart_time: number } }

async function pm2 (...args: string[]): Promise<string> {
  const { stdout } = await run(PM2, args, { env, cwd: ROOT, maxBuffer: 16 * 1024 * 1024 })
  return stdout
}
async function apps (): Promise<Pm2App[]> {
  return JSON.parse(await pm2('jlist')) as Pm2App[]
}
async function summary (): Promise<Summary> {
  return JSON.parse(await readFile(summaryFile, 'utf8')) as Summary
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warden-e2e-'))
  mqttPort = await freePort()
  summaryFile = join(dir, 'consumer-summary.json')
  const producerConfig = join(dir, 'producer.yaml')
  const consumerConfig = join(dir, 'consumer.yaml')
  await writeFile(producerConfig, stringify({
    broker: { url: 'mqtt://127.0.0.1:1883' }, // WARDEN_MQTT_URL from the ecosystem file overrides it
    fleet: { size: 3, usernamePrefix: 'device-', password: 'demo-device' },
    rate: 20,
    qos: 1,
    summaryIntervalMs: 0
  }))
  await writeFile(consumerConfig, stringify({
    broker: { url: 'mqtt://127.0.0.1:1883' },
    username: 'consumer',
    password: 'demo-consumer',
    clientId: 'e2e-consumer',
    subscriptions: ['devices/+/telemetry'],
    qos: 1,
    output: { file: join(dir, 'messages.log'), stdout: false },
    summaryIntervalMs: 250,
    summaryFile,
    stateFile: join(dir, 'consumer-state.json')
  }))
  env = {
    ...process.env,
    PM2_HOME: join(dir, 'pm2'),
    WARDEN_MQTT_PORT: String(mqttPort),
    WARDEN_HTTP_PORT: String(await freePort()),
    WARDEN_DATA_ROOT: join(dir, 'data'),
    WARDEN_LOG_ROOT: join(dir, 'logs'),
    WARDEN_PRODUCER_CONFIG: producerConfig,
    WARDEN_CONSUMER_CONFIG: consumerConfig
  }
  // what `npm start` does after the build: the broker first (pm2 waits for its 'ready'), then the others
  await pm2('start', 'ecosystem.config.js', '--only', 'broker')
  await pm2('start', 'ecosystem.config.js', '--only', 'producer,consumer')
}, 120_000)

afterAll(async () => {
  if (env !== undefined) await pm2('kill').catch(() => {})
  if (dir !== undefined && process.env.WARDEN_KEEP_E2E === undefined) await rm(dir, { recursive: true, force: true })
}, 60_000)

it('starts the three processes under pm2', async () => {
  const list = await waitUntil(async () => {
    const a = await apps()
    return a.length === 3 && a.every((p) => p.pm2_env.status === 'online') ? a : undefined
  }, 'three online apps')
  expect(list.map((a) => a.name).sort()).toEqual(['broker', 'consumer', 'producer'])
})

it('shows telemetry from several devices to an observer\'s mosquitto_sub', async () => {
  const sub = mosquittoSub(mqttPort, ['-u', 'observer', '-P', 'demo-observer', '-t', 'devices/+/telemetry', '-v', '-C', '30'])
  const res = await sub.exited()
  expect(res.code).toBe(0)
  const devices = new Set(res.stdout.split('\n').map((l) => l.split(' ')[0]))
  expect(devices.size).toBeGreaterThanOrEqual(2)
  const payload = JSON.parse(res.stdout.split('\n')[0]?.slice(res.stdout.indexOf(' ') + 1) ?? '{}') as Record<string, unknown>
  expect(payload).toMatchObject({ deviceId: expect.any(String), seq: expect.any(Number), ts: expect.any(Number), readings: expect.any(Object) })
})

it('the consumer counts every message with no gap at QoS 1', async () => {
  const s = await waitUntil(async () => { const s = await summary(); return s.received >= 150 ? s : undefined }, 'consumer to receive 150 messages')
  expect(s.gaps).toBe(0)
  expect(s.devices).toBe(3)
})

it('survives a broker restart with no loss at QoS 1', async () => {
  const before = await summary()
  const broker = (await apps()).find((a) => a.name === 'broker')
  await pm2('restart', 'broker')
  await waitUntil(async () => {
    const b = (await apps()).find((a) => a.name === 'broker')
    return b !== undefined && b.pm2_env.status === 'online' && b.pid !== broker?.pid ? b : undefined
  }, 'broker to come back online')
  // the fleet reconnects and goes on; the consumer's session was kept in the broker's store
  const after = await waitUntil(async () => {
    const s = await summary()
    return s.received >= before.received + 150 ? s : undefined
  }, 'consumer to resume', 60_000)
  expect(after.gaps).toBe(0)
  expect(after.devices).toBe(3)
  const restarts = (await apps()).map((a) => [a.name, a.pm2_env.restart_time])
  expect(Object.fromEntries(restarts)).toMatchObject({ producer: 0, consumer: 0 })
}, 90_000)
