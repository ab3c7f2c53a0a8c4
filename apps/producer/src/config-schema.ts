// JSON schema of config/producer.yaml; ajv fills the defaults written here.
import { LOG_FORMATS, type LogFormat } from '@warden/common'

export interface ProducerConfigFile {
  broker: { url: string }
  dataDir: string
  fleet: {
    size?: number
    usernamePrefix: string
    password?: string
    devices?: Array<{ username: string, password: string }>
  }
  rate: number
  qos: 0 | 1 | 2
  reconnectPeriodMs: number
  maxReconnectPeriodMs: number
  closeTimeoutMs: number
  summaryIntervalMs: number
  stateFlushIntervalMs: number
  logLevel: string
  logFormat: LogFormat
}

// a username becomes a topic level, so it cannot hold MQTT's separators or wildcards
const USERNAME_PATTERN = '^[^/+#\\u0000]+$'

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    broker: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: { url: { type: 'string', minLength: 1, default: 'mqtt://127.0.0.1:1883' } }
    },
    dataDir: { type: 'string', minLength: 1, default: './data/producer' },
    fleet: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        size: { type: 'integer', minimum: 1, maximum: 10000 },
        usernamePrefix: { type: 'string', pattern: USERNAME_PATTERN, default: 'device-' },
        password: { type: 'string' },
        devices: {
          type: 'array',
          minItems: 1,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['username', 'password'],
            properties: {
              username: { type: 'string', pattern: USERNAME_PATTERN },
              password: { type: 'string' }
            }
          }
        }
      }
    },
    rate: { type: 'number', exclusiveMinimum: 0, maximum: 10000, default: 2 },
    qos: { type: 'integer', enum: [0, 1, 2], default: 1 },
    reconnectPeriodMs: { type: 'integer', minimum: 100, default: 1000 },
    maxReconnectPeriodMs: { type: 'integer', minimum: 100, default: 30000 },
    // plus ~1 s for DISCONNECT, this must stay below runService's 8 s shutdown limit (itself inside pm2's kill_timeout)
    closeTimeoutMs: { type: 'integer', minimum: 0, maximum: 6000, default: 3000 },
    summaryIntervalMs: { type: 'integer', minimum: 0, default: 10000 },
    stateFlushIntervalMs: { type: 'integer', minimum: 100, default: 1000 },
    logLevel: { type: 'string', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
    logFormat: { type: 'string', enum: [...LOG_FORMATS], default: 'json' }
  }
} as const
