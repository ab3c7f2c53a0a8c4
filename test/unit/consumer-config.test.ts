// Consumer configuration: defaults, env overrides, and errors that name the key to fix.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadConsumerConfig } from '../../apps/consumer/src/config.js'

const repoRoot = join(import.meta.dirname, '../..')

const base = `
broker: { url: "mqtt://127.0.0.1:1883" }
clientId: test-consumer
subscriptions: ["devices/+/telemetry"]
`

describe('consumer config', () => {
  let dir: string
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'warden-consumer-config-')) })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  const load = (yaml: string, env: Record<string, string | undefined> = {}, name = 'consumer.yaml') => {
    writeFileSync(join(dir, name), yaml)
    return loadConsumerConfig({ env: { WARDEN_CONFIG: name, ...env }, cwd: dir })
  }

  it('loads the demo config/consumer.yaml from the repository root', () => {
    const config = loadConsumerConfig({ env: {}, cwd: repoRoot })
    expect(config).toMatchObject({
      clientId: 'warden-consumer',
      username: 'consumer',
      qos: 1,
      subscriptions: ['devices/+/telemetry', 'devices/+/status'],
      output: { file: join(repoRoot, 'logs/consumer-messages.log'), size: '10M', keep: 5, stdout: false },
      summaryIntervalMs: 10000,
      silenceWarnMs: 60000
    })
    expect(Object.isFrozen(config)).toBe(true)
    expect(Object.isFrozen(config.output)).toBe(true)
  })

  it('fills defaults', () => {
    expect(load(base)).toEqual({
      broker: { url: 'mqtt://127.0.0.1:1883' },
      clientId: 'test-consumer',
      subscriptions: ['devices/+/telemetry'],
      qos: 1,
      output: { size: '10M', keep: 5, stdout: false },
      summaryIntervalMs: 10000,
      silenceWarnMs: 60000,
      resume: true,
      reconnect: { minMs: 1000, maxMs: 30000 },
      seqWindow: 4096,
      logLevel: 'info',
      logFormat: 'json'
    })
  })

  it('reads JSON too', () => {
    const json = JSON.stringify({ broker: { url: 'mqtts://b:8883' }, clientId: 'c', subscriptions: ['#'], qos: 2 })
    expect(load(json, {}, 'consumer.json')).toMatchObject({ broker: { url: 'mqtts://b:8883' }, qos: 2 })
  })

  it('applies env overrides and resolves file paths against cwd', () => {
    const config = load(base + 'summaryFile: out/summary.json\n', {
      WARDEN_MQTT_URL: 'mqtt://10.0.0.1:1884',
      WARDEN_CONSUMER_CLIENT_ID: 'other-id',
      WARDEN_CONSUMER_QOS: '2',
      WARDEN_CONSUMER_OUT: 'logs/m.log',
      WARDEN_LOG_LEVEL: 'warn',
      WARDEN_SUMMARY_INTERVAL_MS: '500'
    })
    expect(config).toMatchObject({
      broker: { url: 'mqtt://10.0.0.1:1884' },
      clientId: 'other-id',
      qos: 2,
      output: { file: join(dir, 'logs/m.log') },
      summaryFile: join(dir, 'out/summary.json'),
      logLevel: 'warn',
      summaryIntervalMs: 500
    })
  })

  it('moves the summary and QoS 2 state files with WARDEN_CONSUMER_SUMMARY_FILE and WARDEN_CONSUMER_STATE_FILE', () => {
    const config = load(base + 'summaryFile: out/summary.json\nstateFile: out/state.json\n', {
      WARDEN_CONSUMER_SUMMARY_FILE: 'elsewhere/summary.json',
      WARDEN_CONSUMER_STATE_FILE: '/tmp/elsewhere/state.json'
    })
    expect(config).toMatchObject({ summaryFile: join(dir, 'elsewhere/summary.json'), stateFile: '/tmp/elsewhere/state.json' })
  })

  it('writes messages to stdout (pm2\'s log) only when asked, in the file or by WARDEN_CONSUMER_STDOUT', () => {
    expect(load(base).output.stdout).toBe(false)
    expect(load(base + 'output: { stdout: true }\n').output.stdout).toBe(true)
    expect(load(base, { WARDEN_CONSUMER_STDOUT: 'true' }).output.stdout).toBe(true)
    expect(load(base + 'output: { stdout: true }\n', { WARDEN_CONSUMER_STDOUT: 'off' }).output.stdout).toBe(false)
    expect(() => load(base, { WARDEN_CONSUMER_STDOUT: 'sometimes' })).toThrow(/WARDEN_CONSUMER_STDOUT: must be true or false, got "sometimes"/)
  })

  it('ignores empty env overrides', () => {
    expect(load(base, { WARDEN_CONSUMER_QOS: '', WARDEN_MQTT_URL: ' ' })).toMatchObject({ qos: 1, broker: { url: 'mqtt://127.0.0.1:1883' } })
  })

  it.each([
    { name: 'missing file', yaml: null, env: {}, error: /WARDEN_CONFIG|cannot read config file .*consumer\.yaml/ },
    { name: 'not YAML', yaml: 'broker: [', env: {}, error: /cannot parse config file/ },
    { name: 'a list at the root', yaml: '- 1\n', env: {}, error: /\(root\): must be a mapping/ },
    { name: 'missing clientId', yaml: 'broker: { url: "mqtt://h" }\nsubscriptions: ["#"]\n', env: {}, error: /clientId: is required/ },
    { name: 'unknown key', yaml: base + 'qoss: 1\n', env: {}, error: /qoss: is not a known setting/ },
    { name: 'bad qos in file', yaml: base + 'qos: 3\n', env: {}, error: /qos: must be one of 0, 1, 2/ },
    {
      name: 'bad qos from env names the variable', yaml: base, env: { WARDEN_CONSUMER_QOS: '3' },
      error: /with WARDEN_CONSUMER_QOS: qos: must be one of 0, 1, 2/
    },
    { name: 'non-numeric qos from env', yaml: base, env: { WARDEN_CONSUMER_QOS: 'one' }, error: /WARDEN_CONSUMER_QOS: must be an integer, got "one"/ },
    { name: 'too short summary interval', yaml: base, env: { WARDEN_SUMMARY_INTERVAL_MS: '10' }, error: /summaryIntervalMs: must be >= 100/ },
    { name: 'bad log level', yaml: base, env: { WARDEN_LOG_LEVEL: 'loud' }, error: /logLevel: must be one of/ },
    { name: 'bad log format', yaml: base, env: { WARDEN_LOG_FORMAT: 'fancy' }, error: /WARDEN_LOG_FORMAT: must be one of json, pretty, got "fancy"/ },
    { name: 'bad url scheme', yaml: base, env: { WARDEN_MQTT_URL: 'http://h' }, error: /broker\.url: must match pattern/ },
    { name: 'bad topic filter', yaml: base.replace('devices/+/telemetry', 'devices/#/x'), env: {}, error: /subscriptions\[0\]: must match pattern/ },
    { name: 'empty subscriptions', yaml: base.replace('["devices/+/telemetry"]', '[]'), env: {}, error: /subscriptions: must NOT have fewer than 1 items/ },
    { name: 'too long clientId', yaml: base, env: { WARDEN_CONSUMER_CLIENT_ID: 'x'.repeat(24) }, error: /clientId: must NOT have more than 23 characters/ },
    { name: 'bad rotation size', yaml: base + 'output: { size: "10MB" }\n', env: {}, error: /output\.size: must match pattern/ },
    { name: 'keep of zero', yaml: base + 'output: { keep: 0 }\n', env: {}, error: /output\.keep: must be >= 1/ },
    {
      name: 'back-off bounds reversed', yaml: base + 'reconnect: { minMs: 5000, maxMs: 1000 }\n', env: {},
      error: /reconnect\.minMs: must not exceed reconnect\.maxMs/
    }
  ])('fails fast on $name', ({ yaml, env, error }) => {
    if (yaml === null) expect(() => loadConsumerConfig({ env: { WARDEN_CONFIG: 'absent.yaml' }, cwd: dir })).toThrow(/cannot read config file .*absent\.yaml/)
    else expect(() => load(yaml, env)).toThrow(error)
  })

  it('throws coded WardenErrors', () => {
    try {
      load(base + 'qos: 9\n')
      expect.fail('should throw')
    } catch (err) {
      expect((err as { code?: string }).code).toBe('WARDEN_ERR_CONFIG_INVALID')
    }
  })
})
