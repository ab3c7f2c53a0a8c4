// The consumer's configuration: one file plus a few env overrides, validated once, then frozen.
import { extname, resolve } from 'node:path'
import {
  WardenError, applyEnvOverrides as applyOverrides, bootLogFormat, isRecord, createConfigValidator, envValue, logFormatOverride, LOG_FORMATS,
  parseBooleanEnv, parseIntegerEnv, readConfigFile, setConfigPath, type Env, type EnvOverride, type LogFormat
} from '@warden/common'

export interface ConsumerConfig {
  readonly broker: { readonly url: string }
  readonly username?: string
  readonly password?: string
  /** Keys the broker-side persistent session, so it must not change between runs. */
  readonly clientId: string
  readonly subscriptions: readonly string[]
  /** A consumer group: each filter is subscribed as `$share/<group>/<filter>`, so the members share the stream. */
  readonly group?: string
  readonly qos: 0 | 1 | 2
  readonly output: {
    /** Absolute path of the rotating message log; absent means no file sink. */
    readonly file?: string
    readonly size: string
    readonly keep: number
    /** every message also as a JSON line on stdout (pm2's log, which nothing rotates): off unless asked for */
    readonly stdout: boolean
  }
  readonly summaryIntervalMs: number
  /** no message for this long (checked at each summary) is logged as a warning, once per silence; 0: never */
  readonly silenceWarnMs: number
  /** Absolute path; the last summary is written here atomically. */
  readonly summaryFile?: string
  /** Absolute path; unreleased QoS 2 packet ids wait here between runs so a restart cannot duplicate QoS 2 messages. */
  readonly stateFile?: string
  /** Carry counters and per-device positions over from summaryFile, so loss across a restart shows as gaps. */
  readonly resume: boolean
  readonly reconnect: { readonly minMs: number, readonly maxMs: number }
  /** Sequence numbers remembered per device for duplicate and late-arrival detection. */
  readonly seqWindow: number
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  /** json, or pretty: readable lines with ISO times */
  readonly logFormat: LogFormat
}

const DEFAULT_CONFIG_PATH = 'config/consumer.yaml'

// a topic filter: `+` and `#` only as whole levels, `#` only last
const TOPIC_FILTER = '^((\\+|[^/+#]*)/)*(\\+|#|[^/+#]*)$'

const schema = {
  type: 'object',
  additionalProperties: false,
  required: ['broker', 'clientId', 'subscriptions'],
  properties: {
    broker: {
      type: 'object',
      additionalProperties: false,
      required: ['url'],
      properties: { url: { type: 'string', pattern: '^(mqtts?|tcp|tls|ssl|wss?)://.+' } }
    },
    username: { type: 'string', minLength: 1 },
    password: { type: 'string' },
    // MQTT 3.1.1 only obliges brokers to accept 1-23 characters
    clientId: { type: 'string', minLength: 1, maxLength: 23, pattern: '^[0-9A-Za-z_.-]+$' },
    subscriptions: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', minLength: 1, pattern: TOPIC_FILTER } },
    // the name level of $share/<group>/<filter>
    group: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[^/+#\\s]+$' },
    qos: { enum: [0, 1, 2], default: 1 },
    output: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        file: { type: 'string', minLength: 1 },
        size: { type: 'string', pattern: '^[1-9][0-9]*[BKMG]$', default: '10M' },
        keep: { type: 'integer', minimum: 1, maximum: 1000, default: 5 },
        stdout: { type: 'boolean', default: false }
      }
    },
    summaryIntervalMs: { type: 'integer', minimum: 100, default: 10000 },
    silenceWarnMs: { type: 'integer', minimum: 0, default: 60000 },
    summaryFile: { type: 'string', minLength: 1 },
    resume: { type: 'boolean', default: true },
    stateFile: { type: 'string', minLength: 1 },
    reconnect: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        minMs: { type: 'integer', minimum: 10, default: 1000 },
        maxMs: { type: 'integer', minimum: 10, default: 30000 }
      }
    },
    seqWindow: { type: 'integer', minimum: 32, maximum: 1048576, default: 4096 },
    logLevel: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
    logFormat: { enum: [...LOG_FORMATS], default: 'json' }
  }
}

const validate = createConfigValidator<ConsumerConfig>(schema)

/** Validates already-parsed config data; `source` names where it came from in error messages. */
export function validateConsumerConfig (data: unknown, source: string): ConsumerConfig {
  const config = validate(data, source)
  // a relation between two keys, which JSON schema cannot express
  if (config.reconnect.minMs > config.reconnect.maxMs) {
    throw new WardenError('WARDEN_ERR_CONFIG_INVALID',
      `invalid config in ${source}: reconnect.minMs: must not exceed reconnect.maxMs (${config.reconnect.maxMs})`)
  }
  return config
}

/** The log format for a config error, before the config is read (WARDEN_LOG_FORMAT). */
export function readLogFormatEnv (env: Env = process.env): LogFormat {
  return bootLogFormat(env)
}

export interface LoadOptions {
  env?: Env
  /** Base for the config path and for relative file paths inside it. */
  cwd?: string
}

/** Reads WARDEN_CONFIG (or config/consumer.yaml), applies WARDEN_* overrides, validates. */
export function loadConsumerConfig ({ env = process.env, cwd = process.cwd() }: LoadOptions = {}): ConsumerConfig {
  const path = resolve(cwd, envValue(env, 'WARDEN_CONFIG') ?? DEFAULT_CONFIG_PATH)
  const raw = readConfigFile(path)
  if (raw !== null && raw !== undefined && (typeof raw !== 'object' || Array.isArray(raw))) {
    throw new WardenError('WARDEN_ERR_CONFIG_INVALID', `invalid config in ${path}: (root): must be a mapping of settings`)
  }
  const data = structuredClone((raw ?? {}) as Record<string, unknown>)
  const applied = applyEnvOverrides(data, env)
  resolvePaths(data, cwd)
  const source = applied.length === 0 ? path : `${path} with ${applied.join(', ')}`
  return validateConsumerConfig(data, source)
}

/** The WARDEN_* variables that override the file, applied in this order (see @warden/common's env-overrides). */
const OVERRIDES: readonly EnvOverride[] = [
  { name: 'WARDEN_MQTT_URL', apply: (v, d) => { setConfigPath(d, 'broker.url', v) } },
  { name: 'WARDEN_CONSUMER_CLIENT_ID', apply: (v, d) => { d.clientId = v } },
  { name: 'WARDEN_CONSUMER_QOS', apply: (v, d) => { d.qos = parseIntegerEnv('WARDEN_CONSUMER_QOS', v) } },
  { name: 'WARDEN_CONSUMER_OUT', apply: (v, d) => { setConfigPath(d, 'output.file', v) } },
  { name: 'WARDEN_CONSUMER_SUMMARY_FILE', apply: (v, d) => { d.summaryFile = v } },
  { name: 'WARDEN_CONSUMER_STATE_FILE', apply: (v, d) => { d.stateFile = v } },
  { name: 'WARDEN_CONSUMER_STDOUT', apply: (v, d) => { setConfigPath(d, 'output.stdout', parseBooleanEnv('WARDEN_CONSUMER_STDOUT', v)) } },
  { name: 'WARDEN_LOG_LEVEL', apply: (v, d) => { d.logLevel = v } },
  logFormatOverride('logFormat'),
  { name: 'WARDEN_SUMMARY_INTERVAL_MS', apply: (v, d) => { d.summaryIntervalMs = parseIntegerEnv('WARDEN_SUMMARY_INTERVAL_MS', v) } },
  { name: 'WARDEN_CONSUMER_GROUP', apply: (v, d) => { d.group = v } }
]

function applyEnvOverrides (data: Record<string, unknown>, env: Env): string[] {
  const applied = applyOverrides(data, env, OVERRIDES)
  // pm2 runs a group's members as instances of one app: each needs its own client id (one session each)
  // and its own files; pm2 numbers them in NODE_APP_INSTANCE
  const instance = envValue(env, 'NODE_APP_INSTANCE')
  if (typeof data.group === 'string' && instance !== undefined) {
    data.clientId = `${String(data.clientId)}-${instance}`
    const output = asObject(data.output)
    if (typeof output.file === 'string') data.output = { ...output, file: perInstance(output.file, instance) }
    for (const key of ['summaryFile', 'stateFile']) {
      if (typeof data[key] === 'string') data[key] = perInstance(data[key], instance)
    }
    applied.push('NODE_APP_INSTANCE')
  }
  return applied
}

/** `logs/consumer-summary.json` → `logs/consumer-summary-2.json` */
function perInstance (path: string, instance: string): string {
  const ext = extname(path)
  return `${path.slice(0, path.length - ext.length)}-${instance}${ext}`
}

function resolvePaths (data: Record<string, unknown>, cwd: string): void {
  const output = data.output
  if (isRecord(output) && typeof output.file === 'string' && output.file !== '') output.file = resolve(cwd, output.file)
  for (const key of ['summaryFile', 'stateFile']) {
    const value = data[key]
    if (typeof value === 'string' && value !== '') data[key] = resolve(cwd, value)
  }
}

function asObject (value: unknown): Record<string, unknown> {
  return isRecord(value) ? value : {}
}
