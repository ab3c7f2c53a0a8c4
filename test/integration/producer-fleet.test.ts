// The device fleet against a real broker on loopback: contiguous sequences, retained status, reconnects, restarts.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Aedes, type AuthenticateError, type Client } from 'aedes'
import { connect, type MqttClient } from 'mqtt'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { beforeEach, describe, expect, it } from 'vitest'
import { createLogger } from '@warden/common'
import { createDevice } from '../../apps/producer/src/device.js'
import { resolveProducerConfig, type ProducerConfig } from '../../apps/producer/src/config.js'
import { createFleet, SEQ_STATE_FILE, type Fleet } from '../../apps/producer/src/fleet.js'
import type { StatusMessage, TelemetryMessage } from '../../packages/common/src/index.js'
import { useScope } from '../helpers/scope.js'

const PASSWORD = 'fleet-secret'
const DEVICES = ['device-01', 'device-02', 'device-03']
const logger = createLogger({ name: 'producer-test', level: 'silent' })

interface TestBroker {
  url: string
  /** The broker-side handle of a connected client, by client id. */
  clients: Map<string, Client>
  close (): Promise<void>
}

/** authenticate calls by username, so a test can count a device's attempts */
const logins = new Map<string, number>()

async function startBroker (): Promise<TestBroker> {
  const broker = await Aedes.createBroker()
  logins.clear()
  broker.authenticate = (_client, username, password, done) => {
    if (username !== undefined) logins.set(username, (logins.get(username) ?? 0) + 1)
    const ok = username === 'watcher' || (username !== undefined && DEVICES.includes(username) && password?.toString() === PASSWORD)
    // as Warden answers a wrong password: CONNACK 4 (bare aedes's plain refusal would be 5)
    if (ok) done(null, true)
    else done(Object.assign(new Error('bad user name or password'), { returnCode: 4 }) as AuthenticateError, null)
  }
  const clients = new Map<string, Client>()
  broker.on('clientReady', (c) => clients.set(c.id, c))
  const sockets = new Set<Socket>()
  const server: Server = createServer({ noDelay: true }, (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    broker.handle(socket)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `mqtt://127.0.0.1:${port}`,
    clients,
    async close () {
      await new Promise<void>((resolve) => broker.close(() => resolve()))
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

/** A real subscriber that records what it sees and lets a test wait for a condition on it. */
interface Watcher {
  telemetry: Map<string, TelemetryMessage[]>
  statuses: Array<StatusMessage & { retained: boolean }>
  until (what: string, condition: () => boolean, timeoutMs?: number): Promise<void>
  close (): Promise<void>
}

async function watch (url: string, filters: string[]): Promise<Watcher> {
  const client: MqttClient = await new Promise((resolve, reject) => {
    const c = connect(url, { username: 'watcher', clientId: `watcher-${Math.random().toString(16).slice(2)}`, reconnectPeriod: 0 })
    c.once('connect', () => resolve(c))
    c.once('error', reject)
  })
  const telemetry = new Map<string, TelemetryMessage[]>()
  const statuses: Watcher['statuses'] = []
  const checks = new Set<() => void>()
  client.on('message', (topic, payload, packet) => {
    const body = JSON.parse(payload.toString()) as Record<string, unknown>
    if (topic.endsWith('/telemetry')) {
      const m = body as unknown as TelemetryMessage
      telemetry.set(m.deviceId, [...(telemetry.get(m.deviceId) ?? []), m])
    } else {
      statuses.push({ ...(body as unknown as StatusMessage), retained: packet.retain })
    }
    for (const check of checks) check()
  })
  await client.subscribeAsync(Object.fromEntries(filters.map((topic) => [topic, { qos: 1 as const }])))
  return {
    telemetry,
    statuses,
    until (what, condition, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        if (condition()) return resolve()
        const timer = setTimeout(() => { checks.delete(check); reject(new Error(`timed out waiting for ${what}`)) }, timeoutMs)
        const check = (): void => {
          if (!condition()) return
          clearTimeout(timer)
          checks.delete(check)
          resolve()
        }
        checks.add(check)
      })
    },
    close: () => client.endAsync()
  }
}

function seqsOf (w: Watcher, device: string, run?: string): number[] {
  return (w.telemetry.get(device) ?? []).filter((m) => run === undefined || m.run === run).map((m) => m.seq)
}

/** QoS 1 may deliver twice, so a gap is what counts: every number from first to last must be present. */
function expectContiguous (seqs: number[], from: number): void {
  const unique = [...new Set(seqs)].sort((a, b) => a - b)
  expect(unique[0]).toBe(from)
  expect(unique).toEqual(Array.from({ length: unique.length }, (_, i) => from + i))
}

function lastStatus (w: Watcher, device: string): StatusMessage | undefined {
  return w.statuses.filter((s) => s.deviceId === device).at(-1)
}

const scope = useScope()

describe('producer fleet', () => {
  let broker: TestBroker
  let dataDir: string
  let config: ProducerConfig
  /** closed after the test, newest first: fleets and watchers before the broker they talk to */
  const track = <T extends { close (): Promise<void> }>(x: T): T => { scope.defer(() => x.close()); return x }

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'warden-producer-fleet-'))
    scope.defer(() => rm(dataDir, { recursive: true, force: true }))
    broker = track(await startBroker())
    config = resolveProducerConfig({
      broker: { url: broker.url },
      dataDir,
      fleet: { size: DEVICES.length, password: PASSWORD },
      rate: 200,
      qos: 1,
      reconnectPeriodMs: 100,
      maxReconnectPeriodMs: 400,
      summaryIntervalMs: 0,
      stateFlushIntervalMs: 100
    }, 'test')
  })

  it('publishes contiguous sequences, retained online then offline status, and resumes after a restart', async () => {
    const w = track(await watch(broker.url, ['devices/+/telemetry', 'devices/+/status']))
    const fleet = track(await createFleet(config, logger))
    await w.until('100 messages per device', () => DEVICES.every((d) => seqsOf(w, d).length >= 100))

    const late = track(await watch(broker.url, ['devices/+/status']))
    await late.until('retained status of every device', () => DEVICES.every((d) => late.statuses.some((s) => s.deviceId === d)))
    for (const d of DEVICES) expect(late.statuses.find((s) => s.deviceId === d)).toMatchObject({ state: 'online', run: fleet.run, retained: true })

    await fleet.close()
    await w.until('offline status of every device', () => DEVICES.every((d) => lastStatus(w, d)?.state === 'offline'))
    const stats = fleet.stats()
    expect(stats.failed).toBe(0)
    expect(stats.acked).toBe(stats.published)
    const saved = JSON.parse(await readFile(join(dataDir, SEQ_STATE_FILE), 'utf8')) as Record<string, number>
    for (const d of DEVICES) {
      const seqs = seqsOf(w, d)
      expectContiguous(seqs, 1)
      expect(Math.max(...seqs)).toBe(saved[d])
      expect(stats.perDevice[d]?.lastSeq).toBe(saved[d])
      const first = w.telemetry.get(d)?.[0]
      expect(first).toMatchObject({
        deviceId: d, run: fleet.run, seq: 1, readings: { temperature: expect.any(Number), humidity: expect.any(Number), battery: expect.any(Number) }
      })
      expect(first?.ts).toBeGreaterThan(Date.now() - 60_000)
    }

    const after = track(await watch(broker.url, ['devices/+/status']))
    await after.until('retained offline status', () => DEVICES.every((d) => after.statuses.some((s) => s.deviceId === d)))
    for (const d of DEVICES) expect(after.statuses.find((s) => s.deviceId === d)).toMatchObject({ state: 'offline', retained: true })

    // a new process: new run id, numbering carries on from the state file
    const restarted = track(await createFleet(config, logger))
    expect(restarted.run).not.toBe(fleet.run)
    await w.until('10 messages per device from the new run', () => DEVICES.every((d) => seqsOf(w, d, restarted.run).length >= 10))
    for (const d of DEVICES) expectContiguous(seqsOf(w, d, restarted.run), (saved[d] ?? 0) + 1)
  })

  it('reconnects after the broker drops a device and continues without a gap', async () => {
    const w = track(await watch(broker.url, ['devices/+/telemetry', 'devices/+/status']))
    const fleet: Fleet = track(await createFleet(config, logger))
    await w.until('50 messages per device', () => DEVICES.every((d) => seqsOf(w, d).length >= 50))

    const victim = broker.clients.get('warden-dev-device-01')
    expect(victim).toBeDefined()
    victim?.conn.destroy()
    await w.until('the will of device-01', () => lastStatus(w, 'device-01')?.state === 'offline')
    await w.until('device-01 back online', () => lastStatus(w, 'device-01')?.state === 'online')
    const before = Math.max(...seqsOf(w, 'device-01'))
    await w.until('50 more messages from device-01', () => Math.max(...seqsOf(w, 'device-01')) >= before + 50)

    await fleet.close()
    await w.until('offline status of every device', () => DEVICES.every((d) => lastStatus(w, d)?.state === 'offline'))
    const stats = fleet.stats()
    expect(stats.perDevice['device-01']?.connects).toBe(2)
    expect(stats.perDevice['device-02']?.connects).toBe(1)
    expect(stats.failed).toBe(0)
    for (const d of DEVICES) {
      expectContiguous(seqsOf(w, d), 1)
      expect(Math.max(...seqsOf(w, d))).toBe(stats.perDevice[d]?.lastSeq)
    }
  })

  it('backs off exponentially up to the cap while the broker is unreachable, without using sequence numbers', async () => {
    // a port that was free a moment ago: connections are refused at once
    const probe = createServer()
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
    const { port } = probe.address() as AddressInfo
    await new Promise<void>((resolve) => probe.close(() => resolve()))

    const attempts: number[] = []
    let onAttempt = (): void => {}
    const sink = new Writable({
      write (chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n').filter((l) => l !== '')) {
          if ((JSON.parse(line) as { msg: string }).msg === 'connection error') attempts.push(performance.now())
        }
        onAttempt()
        done()
      }
    })
    const device = track(createDevice({
      url: `mqtt://127.0.0.1:${port}`,
      username: 'device-01',
      password: PASSWORD,
      run: 'r',
      qos: 1,
      rate: 100,
      lastSeq: 0,
      reconnectPeriodMs: 100,
      maxReconnectPeriodMs: 400,
      closeTimeoutMs: 100,
      logger: pino({ level: 'debug' }, sink)
    }))
    device.start()
    await new Promise<void>((resolve) => {
      onAttempt = () => { if (attempts.length >= 6) resolve() }
    })
    const gaps = attempts.slice(1).map((t, i) => t - (attempts[i] ?? 0))
    // first waits 100, 200, 400 ms, then stays at the 400 ms cap instead of going on to 800, 1600
    expect(gaps[0]).toBeGreaterThanOrEqual(90)
    expect(gaps[1]).toBeGreaterThanOrEqual(180)
    expect(gaps[2]).toBeGreaterThanOrEqual(360)
    expect(gaps[3]).toBeGreaterThanOrEqual(360)
    expect(gaps[4]).toBeGreaterThanOrEqual(360)
    expect(gaps[4]).toBeLessThan(750)
    expect(device.stats()).toMatchObject({ connected: false, published: 0, lastSeq: 0, connects: 0 })
  })

  it('stops a device whose credentials the broker refuses, with one error line, instead of retrying forever', async () => {
    const lines: Array<{ level: number, msg: string, device?: string, code?: number }> = []
    let onLine = (): void => {}
    const sink = new Writable({
      write (chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n').filter((l) => l !== '')) lines.push(JSON.parse(line) as (typeof lines)[number])
        onLine()
        done()
      }
    })
    const log = pino({ level: 'debug' }, sink)
    const common = {
      url: broker.url, run: 'r', qos: 1 as const, rate: 200, lastSeq: 0, reconnectPeriodMs: 20, maxReconnectPeriodMs: 40, closeTimeoutMs: 100, logger: log
    }
    const intruder = track(createDevice({ ...common, username: 'device-99', password: PASSWORD }))
    const honest = track(createDevice({ ...common, username: 'device-01', password: PASSWORD }))
    const w = track(await watch(broker.url, ['devices/+/telemetry']))
    intruder.start()
    honest.start()
    await new Promise<void>((resolve) => {
      onLine = () => { if (lines.some((l) => l.device === 'device-99' && l.level === 50)) resolve() }
      onLine()
    })
    // many reconnect periods (20-40 ms) go by while the honest device publishes 60 messages at 200/s
    await w.until('60 messages of device-01', () => seqsOf(w, 'device-01').length >= 60)
    expect(logins.get('device-99')).toBe(1)
    const errors = lines.filter((l) => l.device === 'device-99' && l.level >= 40)
    expect(errors).toHaveLength(1)
    expect(errors[0]?.msg).toMatch(/device-99: refused by the broker, stopped: bad user name or password: each simulated device needs its own account/)
    // the other cause a user meets: accounts made at run time left in the store the broker no longer uses
    expect(errors[0]?.msg).toContain('or, after a store switch, the broker\'s registry has not been imported (see the README, "Switching stores")')
    expect(intruder.stats()).toMatchObject({ refused: true, connected: false, connects: 0, published: 0 })
    expect(honest.stats().refused).toBe(false)
  })
})
