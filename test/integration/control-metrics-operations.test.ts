// What an operator graphs beyond traffic counters: delivery latency, persistent sessions and their queues,
// the retained store, refused protocol versions — and who may scrape /metrics (the metrics role).
import { request as httpsRequest } from 'node:https'
import { beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../apps/broker/src/config/load-config.js'
import { createTestPki } from '../helpers/tls.js'
import { get } from '../helpers/http.js'
import { publish, subscribe } from '../helpers/mqtt.js'
import { parseExposition, type Exposition } from '../helpers/prometheus.js'
import { encode, connectPacket, rawClient } from '../helpers/raw-mqtt.js'
import { useScope } from '../helpers/scope.js'
import { baseConfig, PASSWORD } from '../helpers/broker.js'
import { LATENCY_BUCKETS, SAMPLE_EVERY } from '../../apps/broker/src/observe/delivery-latency.js'

const scope = useScope()

async function configWith (extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const base = await baseConfig()
  const users = base.users as Array<Record<string, unknown>>
  const hash = users[0]!.passwordHash
  return { ...base, users: [...users, { username: 'scraper', passwordHash: hash, roles: ['metrics'] }], ...extra }
}

beforeAll(async () => { await scope.start({ config: await configWith() }) })

async function scrape (as = 'observer'): Promise<Exposition> {
  const r = await get(scope.tb, '/metrics', { as })
  expect(r.status).toBe(200)
  return parseExposition(r.body as string)
}

describe('/metrics for operators', () => {
  it('delivery latency is a histogram of sampled accepted publishes, buckets cumulative', async () => {
    const reader = await scope.client('dashboard')
    const s1 = await scope.client('sensor-1')
    await subscribe(reader, 'sensors/#', 1)
    const before = await scrape()
    const n = 4 * SAMPLE_EVERY
    for (let i = 0; i < n; i++) await publish(s1, 'sensors/sensor-1/t', `m${i}`, { qos: (i % 2) as 0 | 1 })
    await reader.waitFor((m) => m.payload.toString() === `m${n - 1}`)
    const m = await scrape()
    expect(m.types.get('warden_delivery_latency_seconds')).toBe('histogram')
    const count = (m.value('warden_delivery_latency_seconds_count') ?? 0) - (before.value('warden_delivery_latency_seconds_count') ?? 0)
    // every SAMPLE_EVERY-th accepted publish is measured: n of them give n / SAMPLE_EVERY samples
    expect(count).toBe(n / SAMPLE_EVERY)
    const sum = m.value('warden_delivery_latency_seconds_sum') ?? 0
    expect(sum).toBeGreaterThan(0)
    expect(sum).toBeLessThan(5)
    let last = 0
    for (const le of LATENCY_BUCKETS) {
      const v = m.value('warden_delivery_latency_seconds_bucket', { le: String(le) }) ?? -1
      expect(v).toBeGreaterThanOrEqual(last)
      last = v
    }
    expect(m.value('warden_delivery_latency_seconds_bucket', { le: '+Inf' })).toBe(m.value('warden_delivery_latency_seconds_count'))
  })

  it('refused publishes are not measured', async () => {
    const s2 = await scope.client('sensor-2')
    const before = (await scrape()).value('warden_delivery_latency_seconds_count') ?? 0
    for (let i = 0; i < 2 * SAMPLE_EVERY; i++) await publish(s2, 'sensors/sensor-1/t', 'forged', { qos: 1 })
    expect((await scrape()).value('warden_delivery_latency_seconds_count')).toBe(before)
  })

  it('counts persistent sessions, connected and offline, and the messages queued for them', async () => {
    await scope.start({ config: await configWith() })
    const keep = await scope.client('dashboard', { clientId: 'metrics-keep', clean: false })
    await subscribe(keep, 'sensors/sensor-1/queued', 1)
    let m = await scrape()
    expect(m.value('warden_sessions_persistent', { state: 'connected' })).toBe(1)
    expect(m.value('warden_sessions_persistent', { state: 'offline' })).toBe(0)
    await keep.end()
    const s1 = await scope.client('sensor-1')
    for (let i = 0; i < 3; i++) await publish(s1, 'sensors/sensor-1/queued', `q${i}`, { qos: 1 })
    // the queue count is cached for 15 s once taken: a fresh broker on the same store takes it anew
    await scope.restart()
    m = await scrape()
    expect(m.value('warden_sessions_persistent', { state: 'connected' })).toBe(0)
    expect(m.value('warden_sessions_persistent', { state: 'offline' })).toBe(1)
    expect(m.value('warden_sessions_queued_messages')).toBe(3)
  })

  it('reports the retained store in messages and bytes, and a cleared topic leaves it', async () => {
    const s1 = await scope.client('sensor-1')
    const before = await scrape()
    const count0 = before.value('warden_retained_messages') ?? 0
    const bytes0 = before.value('warden_retained_bytes') ?? 0
    await publish(s1, 'sensors/sensor-1/r1', 'abcd', { qos: 1, retain: true })
    await publish(s1, 'sensors/sensor-1/r2', 'ef', { qos: 1, retain: true })
    let m = await scrape()
    expect(m.value('warden_retained_messages')).toBe(count0 + 2)
    expect(m.value('warden_retained_bytes')).toBe(bytes0 + 'sensors/sensor-1/r1'.length + 4 + 'sensors/sensor-1/r2'.length + 2)
    await publish(s1, 'sensors/sensor-1/r1', '', { qos: 1, retain: true })
    m = await scrape()
    expect(m.value('warden_retained_messages')).toBe(count0 + 1)
  })

  it('counts CONNECTs refused for their protocol version', async () => {
    const before = (await scrape()).value('warden_connect_protocol_refused_total', { version: 'other' }) ?? 0
    const raw = scope.track(await rawClient(scope.tb.port))
    // a CONNECT saying protocol level 6: the parser refuses it and the connection closes
    const bytes = encode(connectPacket('sensor-1', 'v6'))
    bytes[8] = 6
    raw.send(bytes)
    await raw.closed()
    expect((await scrape()).value('warden_connect_protocol_refused_total', { version: 'other' })).toBe(before + 1)
  })

  it('with mqtt5: false, a v5 CONNECT is counted under version 5', async () => {
    await scope.start({ config: await configWith({ mqtt5: false }) })
    const raw = scope.track(await rawClient(scope.tb.port))
    raw.send(encode(connectPacket('sensor-1', 'v5', { protocolVersion: 5 }), 5))
    await raw.closed()
    expect((await scrape()).value('warden_connect_protocol_refused_total', { version: '5' })).toBe(1)
  })

  it('the metrics role may scrape /metrics and read nothing else', async () => {
    const m = await scrape('scraper')
    expect(m.value('warden_clients_connected')).toBeGreaterThanOrEqual(0)
    for (const path of ['/api/v1/status', '/api/v1/clients', '/api/v1/topics', '/dashboard/']) {
      expect((await get(scope.tb, path, { as: 'scraper' })).status, path).toBe(403)
    }
  })
})

describe('the control plane over HTTPS (http.tls)', () => {
  it('serves /metrics over TLS with the MQTT listener\'s certificate, and nothing in plain HTTP', async () => {
    const pki = await createTestPki()
    scope.defer(() => pki.remove())
    const tb = await scope.start({ config: await configWith({ tls: { cert: pki.server.cert, key: pki.server.key }, http: { port: 0, tls: true } }) })
    const port = tb.broker.http.port
    const reply = await new Promise<{ status: number | undefined, body: string }>((resolve, reject) => {
      httpsRequest({
        host: '127.0.0.1', port, path: '/metrics', ca: pki.caPem, auth: 'scraper:' + PASSWORD
      }, (res) => {
        let body = ''
        res.setEncoding('utf8').on('data', (d: string) => { body += d }).on('end', () => resolve({ status: res.statusCode, body }))
      }).on('error', reject).end()
    })
    expect(reply.status).toBe(200)
    expect(parseExposition(reply.body).value('warden_clients_connected')).toBe(0)
    // an untrusted peer cannot be talked into plain text
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow()
  })

  it('names the missing key when http.tls has no certificate', () => {
    expect(() => parseConfig({ http: { tls: true } }, 'w.yaml')).toThrow(/tls\.cert: is required by http\.tls/)
  })
})
