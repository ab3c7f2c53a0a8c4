// The built producer as a process: readiness for pm2, clean exit on SIGTERM, fail-fast on bad config.
import { fork, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Aedes } from 'aedes'
import { connect, type MqttClient } from 'mqtt'
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'

const MAIN = fileURLToPath(new URL('../../apps/producer/dist/main.js', import.meta.url))
const PASSWORD = 'process-secret'

interface Run {
  child: ChildProcess
  lines: () => Array<Record<string, unknown>>
  /** stderr, line by line: a fatal error's `warden: <message>` */
  stderr: () => string[]
  exited: Promise<number | null>
}

function startProducer (env: Record<string, string>, cwd: string): Run {
  const child = fork(MAIN, [], { cwd, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
  let out = ''
  let err = ''
  child.stdout?.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr?.on('data', (d: Buffer) => { err += d.toString() })
  // 'close': exited, and its output read to the end
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)))
  const lines = (): Array<Record<string, unknown>> => out.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>)
  const stderr = (): string[] => err.split('\n').filter((l) => l !== '')
  return { child, lines, stderr, exited }
}

describe('producer process', () => {
  let dir: string
  let url: string
  let closeBroker: () => Promise<void>
  let watcher: MqttClient | undefined
  let run: Run | undefined

  beforeAll(() => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npx tsc -b apps/producer\` first`)
  })

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-producer-process-'))
    const broker = await Aedes.createBroker()
    broker.authenticate = (_c, username, password, done) => done(null, username === 'watcher' || password?.toString() === PASSWORD)
    const sockets = new Set<Socket>()
    const server = createServer({ noDelay: true }, (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); broker.handle(s) })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`
    closeBroker = async () => {
      await new Promise<void>((resolve) => broker.close(() => resolve()))
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
    await writeFile(join(dir, 'producer.yaml'), `fleet: { size: 2, password: ${PASSWORD} }\nsummaryIntervalMs: 0\n`)
  })

  afterEach(async () => {
    if (run !== undefined && run.child.exitCode === null) {
      run.child.kill('SIGKILL')
      await run.exited
    }
    run = undefined
    await watcher?.endAsync()
    watcher = undefined
    await closeBroker()
    await rm(dir, { recursive: true, force: true })
  })

  it('signals ready, publishes, and on SIGTERM says offline, saves state and exits 0', async () => {
    watcher = connect(url, { username: 'watcher', clientId: 'process-watcher', reconnectPeriod: 0 })
    const seen = new Map<string, number>()
    const status = new Map<string, string>()
    let onMessage = (): void => {}
    watcher.on('message', (topic, payload) => {
      const m = JSON.parse(payload.toString()) as { deviceId: string, seq?: number, state?: string }
      if (m.seq !== undefined) seen.set(m.deviceId, m.seq)
      if (m.state !== undefined) status.set(m.deviceId, m.state)
      onMessage()
    })
    await watcher.subscribeAsync({ 'devices/+/telemetry': { qos: 1 }, 'devices/+/status': { qos: 1 } })
    const until = (condition: () => boolean): Promise<void> => new Promise((resolve) => {
      onMessage = () => { if (condition()) resolve() }
      onMessage()
    })

    run = startProducer({ WARDEN_CONFIG: 'producer.yaml', WARDEN_MQTT_URL: url, WARDEN_DATA_DIR: 'state', WARDEN_PRODUCER_RATE: '50' }, dir)
    await new Promise<void>((resolve) => run?.child.once('message', (m) => { if (m === 'ready') resolve() }))
    await until(() => (seen.get('device-01') ?? 0) >= 10 && (seen.get('device-02') ?? 0) >= 10)

    run.child.kill('SIGTERM')
    expect(await run.exited).toBe(0)
    await until(() => status.get('device-01') === 'offline' && status.get('device-02') === 'offline')
    const saved = JSON.parse(await readFile(join(dir, 'state', 'seq-state.json'), 'utf8')) as Record<string, number>
    expect(saved['device-01']).toBe(seen.get('device-01'))
    expect(saved['device-02']).toBe(seen.get('device-02'))

    const logs = run.lines()
    expect(logs.filter((l) => l.msg === 'connected')).toHaveLength(2)
    expect(logs.map((l) => l.msg)).toContain('stopped')
    expect(JSON.stringify(logs)).not.toContain(PASSWORD)
  })

  it('exits 1 with a message naming a bad environment override', async () => {
    run = startProducer({ WARDEN_CONFIG: 'producer.yaml', WARDEN_MQTT_URL: url, WARDEN_PRODUCER_QOS: '3' }, dir)
    expect(await run.exited).toBe(1)
    const fatal = String(run.lines().find((l) => l.level === 60)?.msg)
    expect(fatal).toMatch(/WARDEN_PRODUCER_QOS: must be 0, 1 or 2/)
    expect(run.stderr()).toEqual([`warden: ${fatal}`])
  })
})
