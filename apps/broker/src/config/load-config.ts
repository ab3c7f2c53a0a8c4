// Loads the broker's configuration once at start: file, then environment overrides, then checks.
import { hostname } from 'node:os'
import { createConfigValidator, parsePortEnv, readConfigFile, WardenError } from '@warden/common'
import { parsePasswordHash } from '../auth/password.js'
import { BUILTIN_ROLES, grantProblem, registrationProblem, roleNameProblem, unknownRoleProblem } from '../policy/registration.js'
import { compilePayloadSchema } from '../registry/payload-schema.js'
import { checkHardening } from './hardening-schema.js'
import { configSchema, type WardenConfig } from './schema.js'

const validate = createConfigValidator<WardenConfig>(configSchema)

export interface LoadOptions {
  /** defaults to process.env */
  env?: NodeJS.ProcessEnv
}

/** Reads WARDEN_CONFIG and the WARDEN_* overrides. The only place the broker reads process.env. */
export function loadConfig ({ env = process.env }: LoadOptions = {}): WardenConfig {
  const file = env.WARDEN_CONFIG
  // the defaults alone are a broker on 0.0.0.0 with no account: never what was meant, so say what to do
  if (file === undefined || file === '') {
    throw new WardenError('WARDEN_ERR_CONFIG_MISSING', 'no configuration: set WARDEN_CONFIG to a config file (config/warden.yaml is the example `npm start` uses)')
  }
  const raw = readConfigFile(file)
  if (raw === null || raw === undefined || (typeof raw === 'object' && !Array.isArray(raw) && Object.keys(raw).length === 0)) {
    throw new WardenError('WARDEN_ERR_CONFIG_MISSING', `config file ${file} is empty: it needs at least users (or anonymous) and topics; see config/warden.yaml`)
  }
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new WardenError('WARDEN_ERR_CONFIG_INVALID', `invalid config in ${file}: (root): must be a mapping`)
  }
  // the file must be valid on its own: an override must not hide a bad value that a later run without it
  // would trip on (cross-key checks wait for the overrides, which may supply what they need)
  validate(raw, file)
  const data = structuredClone(raw) as Record<string, unknown>
  const mqttPort = parsePortEnv('WARDEN_MQTT_PORT', env.WARDEN_MQTT_PORT)
  const httpPort = parsePortEnv('WARDEN_HTTP_PORT', env.WARDEN_HTTP_PORT)
  if (mqttPort !== undefined) data.mqtt = { ...(data.mqtt as object | undefined), port: mqttPort }
  if (httpPort !== undefined) data.http = { ...(data.http as object | undefined), port: httpPort }
  if (env.WARDEN_DATA_DIR !== undefined && env.WARDEN_DATA_DIR !== '') data.dataDir = env.WARDEN_DATA_DIR
  if (env.WARDEN_LOG_LEVEL !== undefined && env.WARDEN_LOG_LEVEL !== '') data.log = { ...(data.log as object | undefined), level: env.WARDEN_LOG_LEVEL }
  if (env.WARDEN_BROKER_ID !== undefined && env.WARDEN_BROKER_ID !== '') data.brokerId = env.WARDEN_BROKER_ID
  // pm2 numbers cluster workers; the pid makes the id unique per process life (see create-broker.ts)
  if (data.brokerId === undefined && env.NODE_APP_INSTANCE !== undefined) data.brokerId = `warden-${hostname()}-${env.NODE_APP_INSTANCE}-${process.pid}`
  if (env.WARDEN_PERSISTENCE !== undefined && env.WARDEN_PERSISTENCE !== '') data.persistence = env.WARDEN_PERSISTENCE
  if (env.WARDEN_REDIS_URL !== undefined && env.WARDEN_REDIS_URL !== '') data.redis = { url: env.WARDEN_REDIS_URL }
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
  const roleNames = new Set([...BUILTIN_ROLES, ...Object.keys(config.roles)])
  // the rules of policy/registration.ts, which the registry's API applies too
  for (const [name, role] of Object.entries(config.roles)) {
    const bad = roleNameProblem(name)
    if (bad !== null) fail(`roles.${name}`, `the role name ${bad}`)
    const p = grantProblem(role.subscribe)
    if (p !== null) fail(`roles.${name}.subscribe${p.field}`, p.message)
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
  return config
}
