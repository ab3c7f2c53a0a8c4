// Loads the broker's configuration once at start: file, then environment overrides, then checks.
import { hostname } from 'node:os'
import {
  applyEnvOverrides, bootLogFormat, createConfigValidator, envValue, logFormatOverride, parsePortEnv, readConfigFile, setConfigPath, WardenError,
  type EnvOverride, type LogFormat
} from '@warden/common'
import { parsePasswordHash } from '../auth/password.js'
import { BUILTIN_ROLES, grantProblem, registrationProblem, roleNameProblem, unknownRoleProblem } from '../policy/registration.js'
import { compilePayloadSchema } from '../registry/payload-schema.js'
import { checkHardening } from './hardening-schema.js'
import { configSchema, type WardenConfig } from './schema.js'

const validate = createConfigValidator<WardenConfig>(configSchema)

/** The WARDEN_* variables that override the file, applied in this order (see @warden/common's env-overrides). */
const OVERRIDES: readonly EnvOverride[] = [
  { name: 'WARDEN_MQTT_PORT', apply: (v, d) => { setConfigPath(d, 'mqtt.port', parsePortEnv('WARDEN_MQTT_PORT', v)) } },
  { name: 'WARDEN_HTTP_PORT', apply: (v, d) => { setConfigPath(d, 'http.port', parsePortEnv('WARDEN_HTTP_PORT', v)) } },
  { name: 'WARDEN_DATA_DIR', apply: (v, d) => { d.dataDir = v } },
  { name: 'WARDEN_LOG_LEVEL', apply: (v, d) => { setConfigPath(d, 'log.level', v) } },
  logFormatOverride('log.format'),
  { name: 'WARDEN_BROKER_ID', apply: (v, d) => { d.brokerId = v } },
  { name: 'WARDEN_PERSISTENCE', apply: (v, d) => { d.persistence = v } },
  // the whole redis section: a URL from the environment does not mix with the file's
  { name: 'WARDEN_REDIS_URL', apply: (v, d) => { d.redis = { url: v } } }
]

/** The log format before the config is read (WARDEN_LOG_FORMAT); loadConfig reports a bad value. */
export function readBootLogFormat (env: NodeJS.ProcessEnv = process.env): LogFormat {
  return bootLogFormat(env)
}

export interface LoadOptions {
  /** defaults to process.env */
  env?: NodeJS.ProcessEnv
}

/** Reads WARDEN_CONFIG and the WARDEN_* overrides. The only place the broker reads process.env. */
export function loadConfig ({ env = process.env }: LoadOptions = {}): WardenConfig {
  const file = env.WARDEN_CONFIG
  // the defaults alone are a broker on 0.0.0.0 with no account: never what was meant, so say what to do
  if (file === undefined || file === '') {
    throw new WardenError('WARDEN_ERR_CONFIG_MISSING',
      'no configuration: set WARDEN_CONFIG to a config file (config/warden.yaml is the example `npm start` uses)')
  }
  const raw = readConfigFile(file)
  if (raw === null || raw === undefined || (typeof raw === 'object' && !Array.isArray(raw) && Object.keys(raw).length === 0)) {
    throw new WardenError('WARDEN_ERR_CONFIG_MISSING',
      `config file ${file} is empty: it needs at least users (or anonymous) and topics; see config/warden.yaml`)
  }
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new WardenError('WARDEN_ERR_CONFIG_INVALID', `invalid config in ${file}: (root): must be a mapping`)
  }
  // the file must be valid on its own: an override must not hide a bad value that a later run without it
  // would trip on (cross-key checks wait for the overrides, which may supply what they need)
  validate(raw, file)
  const data = structuredClone(raw) as Record<string, unknown>
  applyEnvOverrides(data, env, OVERRIDES)
  // pm2 numbers cluster workers; the pid makes the id unique per process life (see create-broker.ts)
  const instance = envValue(env, 'NODE_APP_INSTANCE')
  if (data.brokerId === undefined && instance !== undefined) data.brokerId = `warden-${hostname()}-${instance}-${process.pid}`
  return parseConfig(data, file)
}

/** Validates an already-parsed configuration object (schema, then cross-references). */
export function parseConfig (data: unknown, source = 'config'): WardenConfig {
  const config = validate(data, source)
  const fail = (key: string, msg: string): never => {
    throw new WardenError('WARDEN_ERR_CONFIG_INVALID', `invalid config in ${source}: ${key}: ${msg}`)
  }
  if (config.persistence === 'redis' && config.redis === undefined) {
    fail('redis.url', 'is required when persistence is redis (or set WARDEN_REDIS_URL)')
  }
  if (config.redis !== undefined) {
    const { url, sentinels, name } = config.redis as { url?: string, sentinels?: unknown[], name?: string }
    if (sentinels === undefined && url === undefined) fail('redis.url', 'is required (or redis.sentinels and redis.name)')
    if (sentinels !== undefined && name === undefined) fail('redis.name', 'is required with redis.sentinels: the name the sentinels monitor the master by')
    if (sentinels === undefined && name !== undefined) fail('redis.name', 'applies only with redis.sentinels')
  }
  const roleNames = new Set([...BUILTIN_ROLES, ...Object.keys(config.roles)])
  // the rules of policy/registration.ts, which the registry's API applies too
  for (const [name, role] of Object.entries(config.roles)) {
    const bad = roleNameProblem(name)
    if (bad !== null) fail(`roles.${name}`, `the role name ${bad}`)
    const p = grantProblem(role.subscribe)
    if (p !== null) fail(`roles.${name}.subscribe${p.field}`, p.message)
  }
  if (config.replies !== undefined) {
    const p = unknownRoleProblem(config.replies.responders, roleNames)
    if (p !== null) fail(`replies.responders${p.field}`, p.message)
  }
  if (config.anonymous !== false && !roleNames.has(config.anonymous)) {
    fail('anonymous', `role ${JSON.stringify(config.anonymous)} is not defined under roles`)
  }
  const seen = new Set<string>()
  config.users.forEach((u, i) => {
    if (seen.has(u.username)) fail(`users[${i}].username`, `${JSON.stringify(u.username)} is listed twice`)
    seen.add(u.username)
    if ((u.password === undefined) === (u.passwordHash === undefined)) {
      fail(`users[${i}]`, 'needs exactly one of password (demo only) or passwordHash (from `warden passwd`)')
    }
    if (u.passwordHash !== undefined) {
      try { parsePasswordHash(u.passwordHash) } catch (err) { fail(`users[${i}].passwordHash`, (err as Error).message) }
    }
    const p = unknownRoleProblem(u.roles, roleNames)
    if (p !== null) fail(`users[${i}].roles${p.field}`, p.message)
  })
  config.topics.forEach((t, i) => {
    const p = registrationProblem(t.filter, t.owners)
    if (p !== null) fail(`topics[${i}].${p.field}`, p.message)
    if (t.schema !== undefined) {
      try { compilePayloadSchema(t.schema) } catch (err) { fail(`topics[${i}].schema`, (err as Error).message.replace(/^schema: /, '')) }
    }
  })
  checkHardening(config, fail)
  if (config.dashboard.sessionIdleMs > config.dashboard.sessionMaxMs) {
    fail('dashboard.sessionIdleMs', `must not exceed dashboard.sessionMaxMs (${config.dashboard.sessionMaxMs})`)
  }
  return config
}
