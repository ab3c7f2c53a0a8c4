// Read rights: SUBACK 0x80 for filters that can read nothing, and per-message filtering of broad filters,
// retained messages and offline replay included.
import { beforeEach, describe, expect, it } from 'vitest'
import type { TestBroker } from '../helpers/broker.js'
import { publish, subscribe } from '../helpers/mqtt.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
let tb: TestBroker
const client = scope.client

beforeEach(async () => { tb = await scope.start() })

describe('reading', () => {
  it('answers SUBACK 0x80 for a filter the client can read nothing of, and audits it', async () => {
    const dash = await client('dashboard')
    expect(await subscribe(dash, ['sensors/#', 'private/#', '#', '$SYS/#'], 1)).toEqual([1, 128, 1, 128])
    expect(tb.broker.audit.counts.get('subscribe:not-granted')).toBe(2)
  })

  it('a consumer subscribed to # receives only what it may read; an observer sees everything', async () => {
    const dash = await client('dashboard')
    const obs = await client('observer')
    await subscribe(dash, '#', 1)
    await subscribe(obs, '#', 1)
    const s1 = await client('sensor-1')
    await publish(s1, 'private/diary', 'secret', { qos: 1 })
    await publish(s1, 'devices/sensor-1/telemetry', 'not-for-dashboards', { qos: 1 })
    await publish(s1, 'sensors/sensor-1/temp', 'marker', { qos: 1 })
    await dash.waitFor((m) => m.payload === 'marker')
    await obs.waitFor((m) => m.payload === 'marker')
    expect(dash.messages.map((m) => m.payload)).toEqual(['marker'])
    expect(obs.messages.map((m) => m.payload).sort()).toEqual(['marker', 'not-for-dashboards', 'secret'])
  })

  it('filters retained messages by read rights', async () => {
    const s1 = await client('sensor-1')
    await publish(s1, 'private/state', 'secret', { qos: 1, retain: true })
    await publish(s1, 'sensors/sensor-1/state', 'visible', { qos: 1, retain: true })
    const obs = await client('observer')
    await subscribe(obs, '#', 1)
    await obs.waitFor((m) => m.payload === 'secret')
    await obs.waitFor((m) => m.payload === 'visible')
    const dash = await client('dashboard')
    await subscribe(dash, '#', 1)
    await dash.waitFor((m) => m.payload === 'visible')
    expect(dash.messages.map((m) => m.payload)).toEqual(['visible'])
  })

  it('only admins and observers read $SYS; the consumer cannot, even through a grant', async () => {
    const obs = await client('observer')
    expect(await subscribe(obs, '$SYS/#', 0)).toEqual([0])
    const adm = await client('admin')
    expect(await subscribe(adm, '$SYS/+/new/clients', 0)).toEqual([0])
    const dash = await client('dashboard')
    expect(await subscribe(dash, ['$SYS/#', '$SYS/+/new/clients'], 0)).toEqual([128, 128])
    await client('sensor-1')
    await adm.waitFor((m) => m.topic.endsWith('/new/clients') && m.payload.length > 0)
    await obs.waitFor((m) => m.topic.endsWith('/new/clients'))
  })

  it('closes the aedes hole: a denied filter in a multi-filter SUBSCRIBE of a persistent session delivers nothing after reconnect', async () => {
    const opts = { clientId: 'dash-persistent', clean: false }
    let dash = await client('dashboard', opts)
    expect(await subscribe(dash, ['sensors/#', 'private/#'], 1)).toEqual([1, 128])
    await dash.end()
    const s1 = await client('sensor-1')
    await publish(s1, 'private/diary', 'secret', { qos: 1 })
    await publish(s1, 'sensors/sensor-1/x', 'marker', { qos: 1 })
    dash = await client('dashboard', opts)
    await dash.waitFor((m) => m.payload === 'marker')
    expect(dash.messages.map((m) => m.payload)).toEqual(['marker'])
  })

  it('a grant with a {username} template reads only the client\'s own subtree', async () => {
    const s1 = await client('sensor-1')
    expect(await subscribe(s1, ['devices/sensor-1/cmd/#', 'devices/sensor-2/cmd/#', 'devices/+/cmd/#'], 1)).toEqual([1, 128, 1])
    const adm = await client('admin')
    await publish(adm, 'devices/sensor-2/cmd/reboot', 'not-yours', { qos: 1 })
    await publish(adm, 'devices/sensor-1/cmd/reboot', 'yours', { qos: 1 })
    await s1.waitFor((m) => m.payload === 'yours')
    expect(s1.messages.map((m) => m.payload)).toEqual(['yours'])
  })
})
