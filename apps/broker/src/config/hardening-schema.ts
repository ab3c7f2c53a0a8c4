// Schema fragments, types and checks of the hardening settings: the TLS, WebSocket and WSS listeners and
// the resource limits. Merged into the broker's schema by schema.ts.

export type ClientCertMode = 'none' | 'optional' | 'required'
/** which field of a verified client certificate names the user */
export type CertIdentity = 'cn' | 'san-dns' | 'san-uri' | 'san-email'

export interface TlsConfig {
  readonly enabled: boolean
  readonly port: number
  readonly host: string
  /** PEM files; cert and key also serve the WSS listener */
  readonly cert?: string
  readonly key?: string
  /** PEM file of the CA(s) that sign client certificates */
  readonly ca?: string
  readonly clientCerts: ClientCertMode
  readonly certIdentity: CertIdentity
}

export interface WsConfig {
  readonly enabled: boolean
  readonly port: number
  readonly host: string
  readonly path: string
}

export interface RateConfig {
  readonly perSecond: number
  readonly burst: number
}

export type ExcessPolicy = 'delay' | 'drop' | 'disconnect'

export interface LoginThrottleConfig {
  /** failures of one username from one address that lock that pair out (the username elsewhere is not) */
  readonly maxFailuresPerUserAddress: number
  readonly maxFailuresPerAddress: number
  readonly windowMs: number
  readonly lockoutMs: number
  readonly maxLockoutMs: number
  readonly delayMs: number
  readonly maxDelayMs: number
  /** logins in flight (waiting, verifying, or held back after a failure): past these, refused unverified */
  readonly maxPendingPerUserAddress: number
  readonly maxPendingPerAddress: number
  /** password verifications running at once (0: one less than the cores, at least 1), and at once for one
   * username; more wait their turn */
  readonly verifyConcurrency: number
  readonly maxVerifyingPerUser: number
  /** how long a verified (username, password) is remembered (as a keyed hash), 0: not at all */
  readonly cacheTtlMs: number
}

/** retained messages kept, per publishing account and in all; bytes are topic and payload; 0: no limit */
export interface RetainedLimits {
  readonly maxMessagesPerUser: number
  readonly maxBytesPerUser: number
  readonly maxMessages: number
  readonly maxBytes: number
}

/**
 * Flow control (flow/): a subscriber still reading but falling behind slows down the publishers feeding it,
 * on every worker, instead of being cut off at one of its bounds.
 */
export interface FlowControlConfig {
  readonly enabled: boolean
  /** share of a bound that cuts a subscriber off (maxOutgoingBytes, maxQueuedMessages, maxQueuedBytes) past which it is congested */
  readonly highWater: number
  /** share below which it is clear again */
  readonly lowWater: number
  /** a congested subscriber must drain at least this many bytes a second (over the last second) to hold publishers */
  readonly minDrainBytesPerSec: number
  /** longest a publish is held for congested subscribers */
  readonly maxHoldMs: number
  /** only subscribers with one of these roles slow publishers down; absent: every subscriber */
  readonly roles?: readonly string[]
}

export interface HardeningLimits {
  readonly maxPacketBytes: number
  readonly maxTopicLength: number
  readonly maxConnections: number
  readonly maxConnectionsPerUser: number
  readonly maxSubscriptionsPerClient: number
  readonly maxQueuedMessages: number
  readonly maxQueuedBytes: number
  readonly retained: RetainedLimits
  readonly maxOutgoingBytes: number
  readonly flowControl: FlowControlConfig
  readonly publishRate: RateConfig & { readonly onExcess: ExcessPolicy }
  readonly connectionRate: RateConfig
  readonly login: LoginThrottleConfig
}

const port = (d: number): object => ({ type: 'integer', minimum: 0, maximum: 65535, default: d })
const host = { type: 'string', minLength: 1, default: '0.0.0.0' }
const file = { type: 'string', minLength: 1 }
const count = (d: number, max = 2 ** 31 - 1): object => ({ type: 'integer', minimum: 0, maximum: max, default: d })

export const tlsSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    enabled: { type: 'boolean', default: false },
    port: port(8883),
    host,
    cert: file,
    key: file,
    ca: file,
    clientCerts: { type: 'string', enum: ['none', 'optional', 'required'], default: 'none' },
    certIdentity: { type: 'string', enum: ['cn', 'san-dns', 'san-uri', 'san-email'], default: 'cn' }
  }
} as const

const wsSchema = (d: number): object => ({
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    enabled: { type: 'boolean', default: false },
    port: port(d),
    host,
    path: { type: 'string', pattern: '^/', default: '/mqtt' }
  }
})
export const wsListenerSchema = wsSchema(8083)
export const wssListenerSchema = wsSchema(8084)

const rate = (perSecond: number, burst: number, extra: object = {}): object => ({
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: { perSecond: count(perSecond), burst: { type: 'integer', minimum: 1, default: burst }, ...extra }
})

/** merged into `limits.properties` */
export const hardeningLimitProperties = {
  maxPacketBytes: { type: 'integer', minimum: 64, maximum: 268435455, default: 1048576 },
  maxTopicLength: { type: 'integer', minimum: 1, maximum: 65535, default: 1024 },
  maxConnections: count(100000),
  maxConnectionsPerUser: count(1000),
  maxSubscriptionsPerClient: count(1000),
  maxQueuedMessages: count(10000),
  maxQueuedBytes: count(67108864),
  retained: {
    type: 'object',
    additionalProperties: false,
    default: {},
    properties: {
      maxMessagesPerUser: count(1000),
      maxBytesPerUser: count(16777216),
      maxMessages: count(100000),
      maxBytes: count(268435456)
    }
  },
  maxOutgoingBytes: count(4194304),
  flowControl: {
    type: 'object',
    additionalProperties: false,
    default: {},
    properties: {
      enabled: { type: 'boolean', default: true },
      highWater: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.25 },
      lowWater: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.0625 },
      minDrainBytesPerSec: { type: 'integer', minimum: 1, default: 16384 },
      maxHoldMs: { type: 'integer', minimum: 1, maximum: 60000, default: 1000 },
      roles: { type: 'array', items: { type: 'string', minLength: 1 } }
    }
  },
  publishRate: rate(1000, 5000, { onExcess: { type: 'string', enum: ['delay', 'drop', 'disconnect'], default: 'delay' } }),
  connectionRate: rate(50, 200),
  login: {
    type: 'object',
    additionalProperties: false,
    default: {},
    properties: {
      maxFailuresPerUserAddress: count(10),
      maxFailuresPerAddress: count(100),
      windowMs: { type: 'integer', minimum: 1, default: 600000 },
      lockoutMs: { type: 'integer', minimum: 1, default: 60000 },
      maxLockoutMs: { type: 'integer', minimum: 1, default: 3600000 },
      delayMs: count(200),
      maxDelayMs: count(5000),
      maxPendingPerUserAddress: { type: 'integer', minimum: 1, default: 2 },
      maxPendingPerAddress: { type: 'integer', minimum: 1, default: 32 },
      verifyConcurrency: { type: 'integer', minimum: 0, maximum: 64, default: 0 },
      maxVerifyingPerUser: { type: 'integer', minimum: 1, default: 2 },
      cacheTtlMs: count(60000)
    }
  }
} as const

export interface HardeningConfig {
  readonly mqtt: { readonly port: number }
  readonly http: { readonly tls: boolean }
  readonly tls: TlsConfig
  readonly ws: WsConfig
  readonly wss: WsConfig
  readonly limits: HardeningLimits
}

/** Checks that span several keys; `fail` throws naming the key. */
export function checkHardening (config: HardeningConfig, fail: (key: string, msg: string) => never): void {
  const { tls, wss, limits } = config
  if (tls.enabled || wss.enabled || config.http.tls) {
    const by = tls.enabled ? 'tls.enabled' : wss.enabled ? 'wss.enabled' : 'http.tls'
    if (tls.cert === undefined) fail('tls.cert', `is required by ${by}: the path of the server certificate (PEM)`)
    if (tls.key === undefined) fail('tls.key', `is required by ${by}: the path of the server private key (PEM)`)
  }
  if (tls.clientCerts !== 'none' && tls.ca === undefined) {
    fail('tls.ca', `is required when tls.clientCerts is ${JSON.stringify(tls.clientCerts)}: the CA file that signs client certificates`)
  }
  if (limits.maxOutgoingBytes !== 0 && limits.maxOutgoingBytes < 2 * limits.maxPacketBytes) {
    fail('limits.maxOutgoingBytes', `must be 0 (no bound) or at least twice limits.maxPacketBytes (${2 * limits.maxPacketBytes})`)
  }
  if (limits.maxQueuedBytes !== 0 && limits.maxQueuedBytes < limits.maxPacketBytes) {
    fail('limits.maxQueuedBytes', `must be 0 (no bound) or at least limits.maxPacketBytes (${limits.maxPacketBytes})`)
  }
  if (limits.flowControl.lowWater >= limits.flowControl.highWater) {
    fail('limits.flowControl.lowWater', `must be less than limits.flowControl.highWater (${limits.flowControl.highWater})`)
  }
  if (limits.login.maxLockoutMs < limits.login.lockoutMs) fail('limits.login.maxLockoutMs', 'must not be less than limits.login.lockoutMs')
  if (limits.login.maxDelayMs < limits.login.delayMs) fail('limits.login.maxDelayMs', 'must not be less than limits.login.delayMs')
  const seen = new Map<number, string>([[config.mqtt.port, 'mqtt.port']])
  for (const [name, l] of [['tls', tls], ['ws', config.ws], ['wss', wss]] as const) {
    if (!l.enabled || l.port === 0) continue
    const other = seen.get(l.port)
    if (other !== undefined) fail(`${name}.port`, `${l.port} is already taken by ${other}`)
    seen.set(l.port, `${name}.port`)
  }
}
