// The broker's configuration: its JSON schema and the typed, frozen object it yields.
import {
  hardeningLimitProperties, tlsSchema, wsListenerSchema, wssListenerSchema, type HardeningLimits, type TlsConfig, type WsConfig
} from './hardening-schema.js'
import { LOG_FORMATS, type LogFormat } from '@warden/common'
import { USERNAME_MAX, USERNAME_PATTERN } from '../policy/registration.js'
import { dashboardSchema, type DashboardConfig } from './dashboard-schema.js'

export type PersistenceKind = 'level' | 'memory' | 'redis'

export interface UserConfig {
  readonly username: string
  /** plain text, for local demos only: such accounts are accepted from loopback clients alone */
  readonly password?: string
  readonly passwordHash?: string
  readonly roles: readonly string[]
  /** accept this account only from loopback addresses (always true for plain `password` accounts) */
  readonly loopbackOnly?: boolean
}

export interface TopicConfig {
  readonly filter: string
  readonly owners: readonly string[]
  /** JSON Schema every payload published under the registration must pass */
  readonly schema?: Readonly<Record<string, unknown>>
}

/** how Redis is reached (cluster mode): a URL, or Redis Sentinel */
export interface RedisConfig {
  /** `redis://[user:password@]host:port[/db]` (`rediss://`: TLS); with sentinels, its host and port are not
   * used, its credentials, database and TLS are the master's */
  readonly url?: string | undefined
  readonly sentinels?: ReadonlyArray<{ readonly host: string, readonly port: number }> | undefined
  /** the master's name the sentinels know it by (`sentinel monitor <name> …`) */
  readonly name?: string | undefined
  /** a password of the sentinels themselves (`requirepass` in sentinel.conf), when they have one */
  readonly sentinelPassword?: string | undefined
  /** an acknowledgement (PUBACK, PUBREC, PUBCOMP, SUBACK, UNSUBACK) is sent once this many replicas have the
   * writes it depends on (Redis WAIT); 0: once the master has them */
  readonly waitForReplicas?: number | undefined
  /** how long an acknowledgement waits for the replicas; fewer in time: it is not sent, the client is closed */
  readonly replicaTimeoutMs?: number | undefined
}

export interface WardenConfig {
  readonly mqtt: { readonly port: number, readonly host: string }
  /** MQTT over TLS (mTLS optional); cert and key also serve wss */
  readonly tls: TlsConfig
  /** MQTT over WebSocket, and over WebSocket with TLS */
  readonly ws: WsConfig
  readonly wss: WsConfig
  readonly http: { readonly port: number, readonly host: string, readonly tls: boolean }
  readonly dataDir: string
  readonly persistence: PersistenceKind
  /** the shared store and bus of cluster mode (persistence: redis) */
  readonly redis?: RedisConfig
  readonly anonymous: false | string
  readonly unregisteredTopics: 'deny' | 'allow'
  /** MQTT 5 request/response: each client's reply topic `<prefix>/<clientId>/` (Response Information), where only
   * that client reads and only the holders of a `responders` role publish; absent: none */
  readonly replies?: { readonly prefix: string, readonly responders: readonly string[] }
  readonly deniedPublish: 'drop' | 'disconnect'
  /** MQTT 5 clients are accepted (false: refused with CONNACK 1, as an MQTT 3.1.1-only broker does) */
  readonly mqtt5: boolean
  /** a reverse proxy on this host forwards clients: a loopback address proves nothing, so loopback-only
   * accounts (plain-text demo passwords included) are refused from every address */
  readonly behindProxy: boolean
  readonly roles: Readonly<Record<string, { readonly subscribe: readonly string[] }>>
  readonly users: readonly UserConfig[]
  readonly topics: readonly TopicConfig[]
  readonly log: { readonly level: string, readonly format: LogFormat }
  /** control plane: rates are sampled every intervalMs; $SYS/warden/stats is published every sysIntervalMs */
  readonly stats: { readonly intervalMs: number, readonly sysIntervalMs: number }
  readonly brokerId?: string
  /** consumer groups ($share/{group}/{filter}): QoS 1/2 messages a group keeps while no member is connected */
  readonly sharedSubscriptions: { readonly maxQueued: number, readonly handoverTimeoutMs: number }
  readonly sessions: {
    /** idle time after which a persistent session and its queued messages are removed; 0 = never */
    readonly expiryMs: number
    readonly sweepIntervalMs: number
    /** MQTT 5 delayed wills whose timer one process keeps at a time (aedes's pendingSessionsLimit; session expiry is kept in the store) */
    readonly maxPending: number
  }
  readonly limits: {
    readonly connectTimeoutMs: number
    readonly heartbeatIntervalMs: number
    readonly drainTimeoutMs: number
    readonly maxTopicLevels: number
    readonly maxInflightInbound: number
    /** MQTT 5 topic aliases a client may set up for what it publishes (0: none; inbound only) */
    readonly topicAliasMaximum: number
    /** MQTT 5 topic aliases the broker sets up on what it sends to a client that accepts them (0: none) */
    readonly outboundTopicAliases: number
    /** MQTT 5 clients asking for a longer keepalive (or none) are told this one (Server Keep Alive); 0: any */
    readonly maxKeepAliveSeconds: number
  } & HardeningLimits
  readonly dashboard: DashboardConfig
}

const filterList = { type: 'array', items: { type: 'string', minLength: 1 }, default: [] }

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    mqtt: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        port: { type: 'integer', minimum: 0, maximum: 65535, default: 1883 },
        host: { type: 'string', minLength: 1, default: '0.0.0.0' }
      }
    },
    tls: tlsSchema,
    ws: wsListenerSchema,
    wss: wssListenerSchema,
    http: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        port: { type: 'integer', minimum: 0, maximum: 65535, default: 8080 },
        host: { type: 'string', minLength: 1, default: '127.0.0.1' },
        // HTTPS with tls.cert and tls.key: for a control plane bound beyond loopback (Prometheus, the dashboard)
        tls: { type: 'boolean', default: false }
      }
    },
    dataDir: { type: 'string', minLength: 1, default: './data' },
    persistence: { type: 'string', enum: ['level', 'memory', 'redis'], default: 'level' },
    redis: {
      type: 'object',
      additionalProperties: false,
      properties: {
        url: { type: 'string', pattern: '^rediss?://' },
        // Redis Sentinel: the master is asked of these, and followed through a failover
        sentinels: {
          type: 'array',
          minItems: 1,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['host', 'port'],
            properties: { host: { type: 'string', minLength: 1 }, port: { type: 'integer', minimum: 1, maximum: 65535 } }
          }
        },
        name: { type: 'string', minLength: 1 },
        sentinelPassword: { type: 'string', minLength: 1 },
        waitForReplicas: { type: 'integer', minimum: 0, maximum: 16 },
        replicaTimeoutMs: { type: 'integer', minimum: 10, maximum: 60000 }
      }
    },
    anonymous: {
      anyOf: [{ const: false }, { type: 'string', minLength: 1 }],
      default: false
    },
    unregisteredTopics: { type: 'string', enum: ['deny', 'allow'], default: 'deny' },
    deniedPublish: { type: 'string', enum: ['drop', 'disconnect'], default: 'drop' },
    replies: {
      type: 'object',
      additionalProperties: false,
      required: ['prefix'],
      properties: {
        // one or more topic levels, no wildcard, not a broker topic ($), no '/' at either end
        prefix: { type: 'string', minLength: 1, maxLength: 256, pattern: '^[^$+#/\\u0000]([^+#\\u0000]*[^+#/\\u0000])?$' },
        responders: { type: 'array', items: { type: 'string', minLength: 1 }, default: [] }
      }
    },
    mqtt5: { type: 'boolean', default: true },
    behindProxy: { type: 'boolean', default: false },
    roles: {
      type: 'object',
      default: {},
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: { subscribe: filterList }
      }
    },
    users: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['username', 'roles'],
        properties: {
          // '/', '+' and '#' would inject topic syntax through {username} templates
          username: { type: 'string', minLength: 1, maxLength: USERNAME_MAX, pattern: USERNAME_PATTERN },
          password: { type: 'string', minLength: 1 },
          passwordHash: { type: 'string', minLength: 1 },
          roles: { type: 'array', items: { type: 'string', minLength: 1 } },
          loopbackOnly: { type: 'boolean' }
        }
      }
    },
    topics: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['filter', 'owners'],
        properties: {
          filter: { type: 'string', minLength: 1 },
          owners: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
          schema: { type: 'object' }
        }
      }
    },
    log: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        level: { type: 'string', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
        format: { type: 'string', enum: [...LOG_FORMATS], default: 'json' }
      }
    },
    stats: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        intervalMs: { type: 'integer', minimum: 50, maximum: 60000, default: 1000 },
        sysIntervalMs: { type: 'integer', minimum: 100, default: 10000 }
      }
    },
    brokerId: { type: 'string', minLength: 1, pattern: '^[A-Za-z0-9._-]+$' },
    sharedSubscriptions: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        maxQueued: { type: 'integer', minimum: 0, default: 10000 },
        handoverTimeoutMs: { type: 'integer', minimum: 100, maximum: 30000, default: 5000 }
      }
    },
    sessions: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        expiryMs: { type: 'integer', minimum: 0, default: 604800000 },
        sweepIntervalMs: { type: 'integer', minimum: 100, default: 60000 },
        maxPending: { type: 'integer', minimum: 1, default: 100000 }
      }
    },
    dashboard: dashboardSchema,
    limits: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        connectTimeoutMs: { type: 'integer', minimum: 100, default: 30000 },
        heartbeatIntervalMs: { type: 'integer', minimum: 100, default: 60000 },
        drainTimeoutMs: { type: 'integer', minimum: 0, default: 60000 },
        maxTopicLevels: { type: 'integer', minimum: 1, maximum: 1024, default: 64 },
        maxInflightInbound: { type: 'integer', minimum: 0, default: 1024 },
        topicAliasMaximum: { type: 'integer', minimum: 0, maximum: 65535, default: 0 },
        outboundTopicAliases: { type: 'integer', minimum: 0, maximum: 65535, default: 32 },
        maxKeepAliveSeconds: { type: 'integer', minimum: 0, maximum: 65535, default: 0 },
        ...hardeningLimitProperties
      }
    }
  }
} as const
