// Producer configuration: defaults, environment overrides, and errors that name the bad key.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadProducerConfig, readLogLevelEnv, resolveProducerConfig } from '../../apps/producer/src/config.js'

const base = { fleet: { password: 'pw' } }

describe('resolveProducerConfig', () => {
  it('fills defaults and derives device-01.. usernames', () => {
    const c = resolveProducerConfig(base, 'test.yaml', {}, '/srv')
    expect(c).toMatchObject({
      brokerUrl: 'mqtt://127.0.0.1:1883', dataDir: '/srv/data/producer', rate: 2, qos: 1, reconnectPeriodMs: 1000, maxReconnectPeriodMs: 30000
    })
    expect(c.devices.map((d) => d.username)).toEqual(['device-01', 'device-02', 'device-03', 'device-04', 'device-05'])
    expect(c.devices.every((d) => d.password === 'pw')).toBe(true)
    expect(Object.isFrozen(c) && Object.isFrozen(c.devices[0])).toBe(true)
  })

  it('widens the index only when the fleet needs it', () => {
    const c = resolveProducerConfig({ fleet: { size: 120, password: 'pw', usernamePrefix: 'sensor' } }, 'test.yaml')
    expect(c.devices[0]?.username).toBe('sensor001')
    expect(c.devices.at(-1)?.username).toBe('sensor120')
  })

  it('applies every environment override', () => {
    const c = resolveProducerConfig(base, 'test.yaml', {
      WARDEN_MQTT_URL: 'mqtt://broker:1884',
      WARDEN_PRODUCER_DEVICES: '3',
      WARDEN_PRODUCER_RATE: '0.5',
      WARDEN_PRODUCER_QOS: '2',
      WARDEN_DATA_DIR: '/var/lib/warden',
      WARDEN_LOG_LEVEL: 'debug'
    })
    expect(c).toMatchObject({ brokerUrl: 'mqtt://broker:1884', rate: 0.5, qos: 2, dataDir: '/var/lib/warden', logLevel: 'debug' })
    expect(c.devices).toHaveLength(3)
  })

  it('takes an explicit device list, optionally cut to the first N', () => {
    const devices = [{ username: 'a', password: '1' }, { username: 'b', password: '2' }]
    expect(resolveProducerConfig({ fleet: { devices } }, 't').devices).toEqual(devices)
    expect(resolveProducerConfig({ fleet: { devices } }, 't', { WARDEN_PRODUCER_DEVICES: '1' }).devices).toEqual([devices[0]])
  })

  it('treats an empty file as all defaults, which still lack a password', () => {
    expect(() => resolveProducerConfig(null, 't', { WARDEN_PRODUCER_DEVICES: '2' })).toThrow(/\(with WARDEN_PRODUCER_DEVICES\): fleet.password: is required/)
  })

  it.each([
    ['WARDEN_PRODUCER_RATE', 'fast', /WARDEN_PRODUCER_RATE: must be a number/],
    ['WARDEN_PRODUCER_RATE', '0', /WARDEN_PRODUCER_RATE/],
    ['WARDEN_PRODUCER_RATE', '1e9', /\(with WARDEN_PRODUCER_RATE\): rate: must be <= 10000/],
    ['WARDEN_PRODUCER_DEVICES', '2.5', /WARDEN_PRODUCER_DEVICES: must be a whole number/],
    ['WARDEN_PRODUCER_DEVICES', '0', /WARDEN_PRODUCER_DEVICES/],
    ['WARDEN_PRODUCER_QOS', '3', /WARDEN_PRODUCER_QOS: must be 0, 1 or 2/],
    ['WARDEN_MQTT_URL', 'localhost:1883', /WARDEN_MQTT_URL: must be a/],
    ['WARDEN_MQTT_URL', 'http://localhost', /WARDEN_MQTT_URL: must be a URL with one of/],
    ['WARDEN_LOG_LEVEL', 'loud', /WARDEN_LOG_LEVEL: must be one of/]
  ])('rejects %s=%s naming the variable', (name, value, message) => {
    expect(() => resolveProducerConfig(base, 't', { [name]: value })).toThrow(message)
  })

  it.each([
    [{ ...base, rtae: 2 }, /rtae: is not a known setting/],
    [{ ...base, qos: 3 }, /qos: must be one of 0, 1, 2/],
    [{ ...base, rate: -1 }, /rate: must be > 0/],
    [{ ...base, broker: { url: 'nope' } }, /broker.url: must be a broker URL/],
    [{ fleet: {} }, /fleet.password: is required unless fleet.devices/],
    [{ fleet: { password: 'pw', size: 0 } }, /fleet.size: must be >= 1/],
    [{ fleet: { devices: [{ username: 'a' }] } }, /fleet.devices\[0\].password: is required/],
    [{ fleet: { devices: [{ username: 'a/b', password: 'x' }] } }, /fleet.devices\[0\].username: must match pattern/],
    [{ fleet: { devices: [{ username: 'a', password: 'x' }], size: 2 } }, /fleet.size: is 2 but fleet.devices lists only 1/],
    [{ fleet: { devices: [{ username: 'a', password: 'x' }, { username: 'a', password: 'y' }] } }, /fleet.devices: lists a username twice/],
    [{ ...base, reconnectPeriodMs: 5000, maxReconnectPeriodMs: 1000 }, /maxReconnectPeriodMs: must be at least reconnectPeriodMs/],
    ['just a string', /\(root\): must be object/]
  ])('rejects a bad file naming the key (%#)', (data, message) => {
    expect(() => resolveProducerConfig(data, 'producer.yaml')).toThrow(message)
    expect(() => resolveProducerConfig(data, 'producer.yaml')).toThrow(expect.objectContaining({ code: 'WARDEN_ERR_CONFIG_INVALID' }))
  })
})

describe('loadProducerConfig', () => {
  let dir: string
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'warden-producer-config-')) })
  afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

  it('reads the file named by WARDEN_CONFIG, relative to cwd', async () => {
    await writeFile(join(dir, 'p.yaml'), 'fleet: { size: 2, password: pw }\nrate: 4\n')
    const c = loadProducerConfig({ WARDEN_CONFIG: 'p.yaml' }, dir)
    expect(c.rate).toBe(4)
    expect(c.devices).toHaveLength(2)
  })

  it('fails with the path when the default file is missing', () => {
    expect(() => loadProducerConfig({}, dir)).toThrow(expect.objectContaining({
      code: 'WARDEN_ERR_CONFIG_READ', message: expect.stringContaining(join(dir, 'config/producer.yaml'))
    }))
  })

  it('falls back to info for an unusable early log level', () => {
    expect(readLogLevelEnv({ WARDEN_LOG_LEVEL: 'debug' })).toBe('debug')
    expect(readLogLevelEnv({ WARDEN_LOG_LEVEL: 'loud' })).toBe('info')
    expect(readLogLevelEnv({})).toBe('info')
  })
})
