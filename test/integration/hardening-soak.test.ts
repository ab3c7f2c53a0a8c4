// Soak: a broker process under steady traffic and steady connect/disconnect churn, on loopback, for a bounded
// time. Its heap (after a full GC) must level off, every acknowledged QoS 1 message must arrive, and every
// publish and every churn cycle (connect, subscribe, publish, disconnect) must succeed: a failure is counted
// and fails the test, it is not taken for an attempt.
// Sizes: WARDEN_SOAK_MS (default 20000), WARDEN_SOAK_CHURN (connections per second, default 20).
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { baseConfig, PASSWORD } from '../helpers/broker.js'
import { CONNECT_TIMEOUT_MS } from '../helpers/mqtt.js'
import { waitUntil } from '../helpers/ports.js'
import { startApp, type AppProcess } from '../helpers/process.js'

const SOAK_MS = Number(process.env.WARDEN_SOAK_MS ?? 20_000)
const CHURN_PER_S = Number(process.env.WARDEN_SOAK_CHURN ?? 20)
const PUBLISH_PER_S = 100
/** heap growth allowed between the end of warm-up and the end */
const MAX_GROWTH_BYTES = 6 * 1024 * 1024

let dir: string
let app: AppProcess
let url: string
const clients = new Set<MqttClient>()

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warden-soak-'))
  await writeFile(join(dir, 'warden.yaml'), stringify({ ...(await baseConfig()), log: { level: 'warn' } }))
  app = startApp('broker', {
    WARDEN_CONFIG: join(dir, 'warden.yaml'), WARDEN_MQTT_PORT: '0', WARDEN_HTTP_PORT: '0', WARDEN_DATA_DIR: join(dir, 'data'),
    WARDEN_LOG_LEVEL: 'info', NODE_OPTIONS: '--expose-gc'
  })
  await app.ready()
  const line = await app.waitForLog((l) => l.msg === 'broker listening')
  url = `mqtt://127.0.0.1:${String(line.mqtt).split(':').pop()}`
})
afterAll(async () => {
  for (const c of clients) c.end(true)
  await app.stop('SIGKILL')
  await rm(dir, { recursive: true, force: true })
})

interface Memory { heapUsed: number, rss: number }
function memory (): Promise<Memory> {
  return new Promise((resolve) => {
    const onMessage = (m: unknown): void => {
      if (typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'memory') {
        app.child.off('message', onMessage)
        resolve(m as Memory)
      }
    }
    app.child.on('message', onMessage)
    app.child.send({ cmd: 'memory' })
  })
}

function open (username: string, opts: mqtt.IClientOptions = {}): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { username, password: PASSWORD, reconnectPeriod: 0, connectTimeout: CONNECT_TIMEOUT_MS, ...opts })
    clients.add(c)
    c.once('connect', () => resolve(c))
    c.once('error', reject)
    // a socket closed at once (a limit) answers no CONNACK and raises no error
    c.once('close', () => reject(new Error('closed before CONNACK')))
  })
}
const close = (c: MqttClient): Promise<void> => new Promise((resolve) => c.end(false, {}, () => { clients.delete(c); resolve() }))

it(`keeps its memory level and loses nothing over ${SOAK_MS} ms of traffic and churn`, async () => {
  const received = new Set<string>()
  const sub = await open('dashboard', { clientId: 'soak-reader', clean: false })
  sub.on('message', (_t, payload) => received.add(payload.toString()))
  await sub.subscribeAsync('sensors/#', { qos: 1 })

  const acked = new Set<string>()
  const publishers = await Promise.all(['sensor-1', 'sensor-2'].map((u) => open(u, { clientId: `steady-${u}` })))
  let seq = 0
  /** steady publishes answered with an error, and churn cycles that failed, with why */
  const failures: string[] = []
  const steady = setInterval(() => {
    for (const [i, p] of publishers.entries()) {
      const payload = `steady-${i}:${++seq}`
      p.publish(`sensors/sensor-${i + 1}/steady`, payload, { qos: 1 }, (err) => {
        if (err === undefined || err === null) acked.add(payload); else failures.push(`${payload}: ${err.message}`)
      })
    }
  }, 2000 / PUBLISH_PER_S)

  let churned = 0
  /** churn cycles that ran to the end */
  let completed = 0
  const cycles: Array<Promise<void>> = []
  const churn = setInterval(() => {
    const n = ++churned
    const user = n % 2 === 0 ? 'sensor-1' : 'sensor-2'
    cycles.push(open(user, { clientId: `churn-${n}` }).then(async (c) => {
      const granted = await c.subscribeAsync(`devices/${user}/cmd/#`, { qos: 1 })
      if (granted[0]?.qos !== 1) throw new Error(`SUBACK ${String(granted[0]?.qos)}`)
      const payload = `churn:${n}`
      await c.publishAsync(`sensors/${user}/churn`, payload, { qos: 1 })
      acked.add(payload)
      c.publish(`sensors/${user}/churn0`, 'qos0', { qos: 0 })
      await close(c)
      completed++
    }).catch((err: unknown) => { failures.push(`churn-${n}: ${err instanceof Error ? err.message : String(err)}`) }))
  }, 1000 / CHURN_PER_S)

  const samples: Array<Memory & { t: number }> = []
  const t0 = Date.now()
  await waitUntil(async () => {
    samples.push({ t: Date.now() - t0, ...await memory() })
    return Date.now() - t0 >= SOAK_MS ? true : undefined
  }, 'the soak period', SOAK_MS + 10_000, Math.max(500, SOAK_MS / 20))
  clearInterval(steady)
  clearInterval(churn)
  // the cycles under way end (or fail) before anything is counted; one that hangs is a failure too
  let settled = 0
  for (const c of cycles) void c.finally(() => { settled++ })
  await waitUntil(() => settled === cycles.length ? true : undefined, 'the churn cycles under way', 15_000, 50).catch(() => {
    failures.push(`${cycles.length - settled} churn cycles did not end`)
  })
  await waitUntil(() => [...acked].every((p) => received.has(p)) ? true : undefined, 'every acknowledged message', 15_000, 50).catch(() => {})

  const lost = [...acked].filter((p) => !received.has(p)).length
  // warm-up: the first quarter (JIT, caches, buffers reaching their working size)
  const warm = samples.find((s) => s.t >= SOAK_MS / 4) ?? samples[0] as Memory & { t: number }
  const last = samples.at(-1) as Memory & { t: number }
  const mb = (n: number): string => (n / 1048576).toFixed(1)
  console.log(`soak: ${SOAK_MS} ms, ${churned} churn cycles started, ${completed} completed, ${failures.length} failures, ` +
    `${acked.size} QoS 1 messages acknowledged, ${lost} lost; ` +
    `heap after GC ${mb(warm.heapUsed)} MB at ${warm.t} ms → ${mb(last.heapUsed)} MB at ${last.t} ms ` +
    `(max ${mb(Math.max(...samples.map((s) => s.heapUsed)))} MB); ` +
    `rss ${mb(warm.rss)} → ${mb(last.rss)} MB`)
  expect(failures.slice(0, 10), `${failures.length} failed publishes or churn cycles`).toEqual([])
  expect(lost).toBe(0)
  expect(churned).toBeGreaterThan(SOAK_MS / 1000 * CHURN_PER_S * 0.5)
  expect(completed).toBe(churned)
  expect(last.heapUsed - warm.heapUsed).toBeLessThan(MAX_GROWTH_BYTES)
}, SOAK_MS + 60_000)
