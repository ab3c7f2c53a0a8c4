// The producer's configuration: file schema, environment overrides, and the resolved frozen settings.
// This is the only module that reads process.env.
import { resolve } from 'node:path'
import {
  WardenError, applyEnvOverrides, bootLogFormat, isRecord, createConfigValidator, deepFreeze, envError, envValue, logFormatOverride, readConfigFile,
  setConfigPath, type Env, type EnvOverride, type LogFormat
} from '@warden/common'
import { configSchema, type ProducerConfigFile } from './config-schema.js'

export interface DeviceCredentials {
  readonly username: string
  readonly password: string
}

export interface ProducerConfig {
  readonly brokerUrl: string
  /** Absolute; the sequence state file lives here. */
  readonly dataDir: string
  readonly devices: readonly DeviceCredentials[]
  /** Messages per second per device; may be fractional. */
  readonly rate: number
  readonly qos: 0 | 1 | 2
  readonly reconnectPeriodMs: number
  readonly maxReconnectPeriodMs: number
  readonly closeTimeoutMs: number
  readonly summaryIntervalMs: number
  readonly stateFlushIntervalMs: number
  readonly logLevel: string
  readonly logFormat: LogFormat
}

export type { Env }

export const DEFAULT_CONFIG_PATH = 'config/producer.yaml'
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']
const URL_PROTOCOLS = ['mqtt:', 'mqtts:', 'tcp:', 'tls:', 'ws:', 'wss:']

const validateFile = createConfigValidator<ProducerConfigFile>(configSchema)

/** The WARDEN_* variables that override the file, applied in this order (see @warden/common's env-overrides). */
const OVERRIDES: readonly EnvOverride[] = [
  { name: 'WARDEN_MQTT_URL', apply: (v, d) => { setConfigPath(d, 'broker.url', parseUrl('WARDEN_MQTT_URL', v)) } },
  { name: 'WARDEN_PRODUCER_DEVICES', apply: (v, d) => { setConfigPath(d, 'fleet.size', parseCount('WARDEN_PRODUCER_DEVICES', v)) } },
  { name: 'WARDEN_PRODUCER_RATE', apply: (v, d) => { d.rate = parseRate('WARDEN_PRODUCER_RATE', v) } },
  { name: 'WARDEN_PRODUCER_QOS', apply: (v, d) => { d.qos = parseQos('WARDEN_PRODUCER_QOS', v) } },
  { name: 'WARDEN_DATA_DIR', apply: (v, d) => { d.dataDir = v } },
  { name: 'WARDEN_LOG_LEVEL', apply: (v, d) => { d.logLevel = parseLogLevel('WARDEN_LOG_LEVEL', v) } },
  logFormatOverride('logFormat')
]

/** Reads the file named by WARDEN_CONFIG, applies WARDEN_* overrides, validates, and freezes. */
export function loadProducerConfig (env: Env = process.env, cwd: string = process.cwd()): ProducerConfig {
  const path = resolve(cwd, envValue(env, 'WARDEN_CONFIG') ?? DEFAULT_CONFIG_PATH)
  return resolveProducerConfig(readConfigFile(path), path, env, cwd)
}

/** The log level to use before the config file is read; a bad value is reported by loadProducerConfig. */
export function readLogLevelEnv (env: Env = process.env): string {
  const value = envValue(env, 'WARDEN_LOG_LEVEL')
  return value !== undefined && LOG_LEVELS.includes(value) ? value : 'info'
}

/** The log format to use before the config file is read (WARDEN_LOG_FORMAT); loadProducerConfig reports a bad value. */
export function readLogFormatEnv (env: Env = process.env): LogFormat {
  return bootLogFormat(env)
}

export function resolveProducerConfig (data: unknown, source: string, env: Env = {}, cwd: string = process.cwd()): ProducerConfig {
  // an empty file parses to null and means "all defaults"; anything else not an object is left for the schema to reject
  const overridable = isRecord(data) || data === null || data === undefined
  const merged: Record<string, unknown> = isRecord(data) ? structuredClone(data) : {}
  const applied = applyEnvOverrides(merged, env, OVERRIDES)

  const where = applied.length === 0 ? source : `${source} (with ${applied.join(', ')})`
  const file = validateFile(overridable ? merged : data, where)
  const invalid = (key: string, msg: string): never => {
    throw new WardenError('WARDEN_ERR_CONFIG_INVALID', `invalid config in ${where}: ${key}: ${msg}`)
  }
  if (file.maxReconnectPeriodMs < file.reconnectPeriodMs) invalid('maxReconnectPeriodMs', 'must be at least reconnectPeriodMs')
  parseUrl('broker.url', file.broker.url)

  return deepFreeze({
    brokerUrl: file.broker.url,
    dataDir: resolve(cwd, file.dataDir),
    devices: resolveDevices(file.fleet, invalid),
    rate: file.rate,
    qos: file.qos,
    reconnectPeriodMs: file.reconnectPeriodMs,
    maxReconnectPeriodMs: file.maxReconnectPeriodMs,
    closeTimeoutMs: file.closeTimeoutMs,
    summaryIntervalMs: file.summaryIntervalMs,
    stateFlushIntervalMs: file.stateFlushIntervalMs,
    logLevel: file.logLevel,
    logFormat: file.logFormat
  })
}

function resolveDevices (fleet: ProducerConfigFile['fleet'], invalid: (key: string, msg: string) => never): DeviceCredentials[] {
  if (fleet.devices !== undefined) {
    const size = fleet.size ?? fleet.devices.length
    if (size > fleet.devices.length) invalid('fleet.size', `is ${size} but fleet.devices lists only ${fleet.devices.length}`)
    const names = new Set(fleet.devices.map((d) => d.username))
    if (names.size !== fleet.devices.length) invalid('fleet.devices', 'lists a username twice')
    return fleet.devices.slice(0, size).map(({ username, password }) => ({ username, password }))
  }
  if (fleet.password === undefined) return invalid('fleet.password', 'is required unless fleet.devices lists each device')
  const size = fleet.size ?? 5
  // device-01 .. device-05 as in the broker's demo users; wider only when the fleet needs it
  const width = Math.max(2, String(size).length)
  const password = fleet.password
  return Array.from({ length: size }, (_, i) => ({
    username: `${fleet.usernamePrefix}${String(i + 1).padStart(width, '0')}`,
    password
  }))
}

function parseUrl (name: string, value: string): string {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw envError(name, 'a broker URL such as mqtt://127.0.0.1:1883', value)
  }
  if (!URL_PROTOCOLS.includes(url.protocol)) throw envError(name, `a URL with one of ${URL_PROTOCOLS.join(' ')}`, value)
  return value
}

function parseCount (name: string, value: string): number {
  const n = Number(value)
  if (!/^\d+$/.test(value) || n < 1) throw envError(name, 'a whole number of devices, 1 or more', value)
  return n
}

function parseRate (name: string, value: string): number {
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0) throw envError(name, 'a number of messages per second above 0, e.g. 2 or 0.5', value)
  return n
}

function parseQos (name: string, value: string): 0 | 1 | 2 {
  if (value !== '0' && value !== '1' && value !== '2') throw envError(name, '0, 1 or 2', value)
  return Number(value) as 0 | 1 | 2
}

function parseLogLevel (name: string, value: string): string {
  if (!LOG_LEVELS.includes(value)) throw envError(name, `one of ${LOG_LEVELS.join(', ')}`, value)
  return value
}
