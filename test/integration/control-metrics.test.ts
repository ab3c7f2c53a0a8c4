// /metrics (Prometheus text, parsed), /healthz and /readyz, and the periodic $SYS/warden/stats.
import { beforeAll, describe, expect, it } from 'vitest'
import type { TestBroker } from '../helpers/broker.js'
import { get, httpUrl } from '../helpers/http.js'
import { publish, subscribe } from '../helpers/mqtt.js'
import { parseExposition } from '../helpers/prometheus.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
let tb: TestBroker
beforeAll(async () => { tb = await scope.start({ config: { stats: { intervalMs: 100, sysIntervalMs: 150 } } }) })

async function scrape (): Promise<ReturnType<typeof parseExposition>> {
  const r = await get(tb, '/metrics', { as: 'observer' })
  expect(r.status).toBe(200)
  expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
  return parseExposition(r.body as string)
}

describe('/metrics', () => {
  it('counts connections, messages by QoS, bytes, denials and topics', async () => {
    const before = await scrape()
    const reader = await scope.client('dashboard')
    const s1 = await scope.client('sensor-1')
    const s2 = await scope.client('sensor-2')
    await subscribe(reader, 'sensors/#', 2)
    for (const qos of [0, 1, 2] as const) await publish(s1, 'sensors/sensor-1/q', `q${qos}`, { qos })
    await publish(s1, 'sensors/sensor-1/q', 'x'.repeat(100), { qos: 1 })
    await publish(s2, 'sensors/sensor-1/q', 'forged', { qos: 1 })
    await publish(s2, 'nowhere', 'lost', { qos: 1 })
    await reader.waitFor((m) => m.payload.length === 100)
    const m = await scrape()
    const delta = (name: string, labels?: Record<string, string>): number => (m.value(name, labels) ?? 0) - (before.value(name, labels) ?? 0)

    expect(m.value('warden_clients_connected')).toBe(3)
    expect(delta('warden_connections_total')).toBe(3)
    expect(delta('warden_messages_received_total', { qos: '0' })).toBe(1)
    expect(delta('warden_messages_received_total', { qos: '1' })).toBe(2)
    expect(delta('warden_messages_received_total', { qos: '2' })).toBe(1)
    expect(delta('warden_messages_sent_total', { qos: '1' })).toBe(2)
    expect(delta('warden_messages_sent_total', { qos: '2' })).toBe(1)
    expect(delta('warden_received_bytes_total')).toBe(2 * 3 + 100)
    expect(delta('warden_sent_bytes_total')).toBeGreaterThanOrEqual(2 * 3 + 100)
    expect(delta('warden_denials_total', { kind: 'publish', reason: 'not-owner' })).toBe(1)
    expect(delta('warden_denials_total', { kind: 'publish', reason: 'unregistered' })).toBe(1)
    expect(delta('warden_topic_messages_total', { filter: 'sensors/sensor-1/#' })).toBe(4)
    expect(m.value('warden_topic_messages_total', { filter: 'private/#' })).toBe(0)
    expect(m.value('warden_subscriptions')).toBe(1)
    expect(m.value('warden_registry_users')).toBe(5)
    expect(m.value('warden_registry_topics')).toBe(6)
    expect(m.value('warden_publishes_in_flight')).toBe(0)
    expect(m.value('warden_socket_queued_bytes')).toBeGreaterThanOrEqual(0)
    expect(m.types.get('warden_messages_received_total')).toBe('counter')
    expect(m.types.get('warden_clients_connected')).toBe('gauge')
    // process stats from prom-client's default collectors
    expect(m.value('process_cpu_user_seconds_total')).toBeGreaterThan(0)
    expect(m.value('process_resident_memory_bytes')).toBeGreaterThan(0)
    expect(m.samples.some((s) => s.name === 'nodejs_eventloop_lag_seconds')).toBe(true)
  })

  it('needs an observer or admin', async () => {
    expect((await get(tb, '/metrics', { as: null })).status).toBe(401)
    expect((await get(tb, '/metrics', { as: 'dashboard' })).status).toBe(403)
    expect((await get(tb, '/metrics', { as: 'admin' })).status).toBe(200)
  })
})

describe('probes', () => {
  it('answers /healthz and /readyz while running, and nothing once closed', async () => {
    const b = await scope.startAnother()
    const url = httpUrl(b)
    expect((await fetch(`${url}/healthz`)).status).toBe(200)
    expect(await (await fetch(`${url}/readyz`)).json()).toEqual({ status: 'ready' })
    await b.close()
    await expect(fetch(`${url}/readyz`)).rejects.toThrow()
  })
})

describe('$SYS/warden/stats', () => {
  it('is published periodically to observers and admins', async () => {
    const observer = await scope.client('observer')
    expect(await subscribe(observer, '$SYS/warden/stats', 0)).toEqual([0])
    const m = await observer.waitFor((x) => x.topic === '$SYS/warden/stats')
    const stats = JSON.parse(m.payload)
    expect(stats).toMatchObject({
      brokerId: tb.broker.id, users: 5, topics: 6,
      messages: { received: expect.any(Number), receivedPerSecond: expect.any(Number) }, denials: { total: expect.any(Number) }
    })
    expect(stats.clients).toBeGreaterThanOrEqual(1)
    expect(Date.parse(stats.ts)).toBeGreaterThan(Date.now() - 10_000)
  })

  it('is not readable by a consumer', async () => {
    const consumer = await scope.client('dashboard')
    expect(await subscribe(consumer, '$SYS/warden/stats', 0)).toEqual([128])
  })
})
