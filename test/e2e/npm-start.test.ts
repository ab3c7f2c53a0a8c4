// The README's `npm start` tells the truth: it waits for the broker before starting the others, and when the
// broker cannot start it removes what it started, prints the broker's one-line reason on stderr and exits
// non-zero. On a stack already running it changes nothing. Private PM2_HOME, free ports, own dirs.
import { createServer, type Server } from 'node:net'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { connectAsync } from 'mqtt'
import { afterEach, expect, it } from 'vitest'
import { prepare, deploy, type Deployment, type Run } from '../helpers/pm2.js'
import { freePort } from '../helpers/ports.js'
import { ROOT } from '../helpers/process.js'
import { startRedis, type TestRedis } from '../helpers/redis.js'

const opened: Deployment[] = []
const servers: Server[] = []
const redises: TestRedis[] = []
afterEach(async () => {
  await Promise.all(opened.splice(0).map((d) => d.destroy()))
  await Promise.all(redises.splice(0).map((r) => r.stop()))
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))))
}, 60_000)

/** the lines start printed as its own (npm adds lines of its own on a failed script) */
const wardenLines = (r: Run): string[] => r.stderr.split('\n').filter((l) => l.startsWith('warden: '))

async function expectNothingRunning (d: Deployment): Promise<void> {
  expect((await d.apps()).map((a) => `${a.name}:${a.pm2_env.status}`)).toEqual([])
}

it('with the MQTT port taken: exits 1 with one line naming the address and the key, and leaves nothing running', async () => {
  const d = await prepare()
  opened.push(d)
  const holder = createServer()
  servers.push(holder)
  await new Promise<void>((resolve) => holder.listen(d.mqttPort, '0.0.0.0', resolve))
  const res = await d.npmStart()
  expect(res.code).not.toBe(0)
  expect(wardenLines(res))
    .toEqual([`warden: cannot listen on 0.0.0.0:${d.mqttPort} (mqtt.port): address in use (another broker running? set WARDEN_MQTT_PORT or mqtt.port)`])
  await expectNothingRunning(d)
}, 90_000)

it('with a misspelt config key: exits 1 with one line naming the key, and leaves nothing running', async () => {
  const d = await prepare()
  opened.push(d)
  const config = join(d.dir, 'warden.yaml')
  const demo = await readFile(join(ROOT, 'config', 'warden.yaml'), 'utf8')
  await writeFile(config, demo.replace('deniedPublish: drop', 'deniedPublsh: drop'))
  const res = await d.npmStart({ WARDEN_CONFIG: config })
  expect(res.code).not.toBe(0)
  const lines = wardenLines(res)
  expect(lines).toHaveLength(1)
  expect(lines[0]).toMatch(/^warden: invalid config in .*warden\.yaml: deniedPublsh: is not a known setting/)
  await expectNothingRunning(d)
}, 90_000)

it('in cluster mode with Redis unreachable: exits 1 with one line naming Redis and the key, and leaves nothing running', async () => {
  const d = await prepare()
  opened.push(d)
  const port = await freePort()
  const res = await d.npmStart({ WARDEN_INSTANCES: '2', WARDEN_REDIS_URL: `redis://127.0.0.1:${port}` })
  expect(res.code).not.toBe(0)
  const lines = wardenLines(res)
  expect(lines).toHaveLength(1)
  expect(lines[0]).toMatch(new RegExp(`^warden: cannot reach Redis at redis://127\\.0\\.0\\.1:${port} \\(redis\\.url\\): .*ECONNREFUSED`))
  await expectNothingRunning(d)
}, 90_000)

it('starts after a failed start once the cause is gone', async () => {
  const d = await prepare()
  opened.push(d)
  const holder = createServer()
  await new Promise<void>((resolve) => holder.listen(d.mqttPort, '0.0.0.0', resolve))
  expect((await d.npmStart()).code).not.toBe(0)
  await new Promise((resolve) => holder.close(resolve))
  const res = await d.npmStart()
  expect(res.stderr).toBe('')
  expect(res.code).toBe(0)
  expect(res.stdout).toMatch(/^warden: started broker, producer, consumer \(MQTT on port \d+, dashboard on \S+, broker: 1 process, persistence: level\); /m)
  expect((await d.apps()).map((a) => `${a.name}:${a.pm2_env.status}`).sort()).toEqual(['broker:online', 'consumer:online', 'producer:online'])
}, 90_000)

it('on a stack already running: says so, and leaves the processes and their clients untouched', async () => {
  const d = await deploy()
  opened.push(d)
  const before = (await d.apps()).map((a) => ({ name: a.name, pid: a.pid, restarts: a.pm2_env.restart_time }))
  const client = await connectAsync(`mqtt://127.0.0.1:${d.mqttPort}`, { username: 'observer', password: 'demo-observer', reconnectPeriod: 0 })
  await client.subscribeAsync('devices/+/telemetry', { qos: 1 })
  let closed = 0
  client.on('close', () => { closed++ })
  try {
    const res = await d.npmStart({ WARDEN_PRODUCER_DEVICES: '2' })
    expect(res.code).toBe(0)
    expect(res.stdout).toMatch(new RegExp(
      /^warden: already running \(broker, producer, consumer online\); nothing changed\. /.source +
      /These settings differ from the running stack and are not applied: WARDEN_PRODUCER_DEVICES: unset → "2"\. To apply them: `npm restart`/.source,
      'm'
    ))
    const after = (await d.apps()).map((a) => ({ name: a.name, pid: a.pid, restarts: a.pm2_env.restart_time }))
    expect(after).toEqual(before)
    // a restarted broker would have closed this connection before `npm start` returned; telemetry still flows
    await new Promise<void>((resolve) => client.once('message', () => resolve()))
    expect(closed).toBe(0)
  } finally {
    await client.endAsync()
  }
}, 120_000)

it('on a running stack started with other settings: names each one that differs and how to apply it; npm restart applies them', async () => {
  const d = await deploy()
  opened.push(d)
  const same = await d.npmStart()
  expect(same.stdout)
    .toMatch(/^warden: already running \(broker, producer, consumer online\); nothing changed\. It runs with the settings of this environment\./m)
  const redis = await startRedis()
  redises.push(redis)
  const cluster = { WARDEN_INSTANCES: '2', WARDEN_REDIS_URL: redis.url }
  const before = (await d.apps()).map((a) => ({ name: a.name, pid: a.pid }))
  const res = await d.npmStart(cluster)
  expect(res.code).toBe(0)
  const line = res.stdout.split('\n').find((l) => l.startsWith('warden: ')) ?? ''
  expect(line).toContain('These settings differ from the running stack and are not applied: broker: 1 instance → 2; ' +
    `WARDEN_INSTANCES: unset → "2"; WARDEN_PERSISTENCE: unset → "redis"; WARDEN_REDIS_URL: unset → "${redis.url}". ` +
    'To apply them: `npm restart` (with the same environment), or `npm stop && npm start`')
  expect((await d.apps()).map((a) => ({ name: a.name, pid: a.pid }))).toEqual(before)
  // applied as it says
  const restarted = await d.npmRestart(cluster)
  expect(restarted.stderr).toBe('')
  expect(restarted.code).toBe(0)
  // said as it is: a restart, and on what
  expect(restarted.stdout).toMatch(/^warden: restarted broker, producer, consumer \(MQTT on port \d+, .*, broker: 2 workers, persistence: redis\); /m)
  expect((await d.apps()).filter((a) => a.name === 'broker' && a.pm2_env.status === 'online')).toHaveLength(2)
  expect((await d.npmStart(cluster)).stdout).toMatch(/nothing changed\. It runs with the settings of this environment\./)
}, 180_000)
