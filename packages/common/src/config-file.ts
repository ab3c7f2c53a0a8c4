// Reads a YAML or JSON configuration file and validates it against a JSON schema.
import { readFileSync } from 'node:fs'
import { extname } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { Ajv, type ErrorObject, type JSONSchemaType } from 'ajv'
import { WardenError } from './errors.js'

export function readConfigFile (path: string): unknown {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new WardenError('WARDEN_ERR_CONFIG_READ', `cannot read config file ${path}: ${(err as Error).message}`, { cause: err })
  }
  try {
    // YAML is a superset of JSON, but JSON files get JSON's stricter parser and error positions
    return extname(path) === '.json' ? JSON.parse(text) : parseYaml(text)
  } catch (err) {
    throw new WardenError('WARDEN_ERR_CONFIG_READ', `cannot parse config file ${path}: ${(err as Error).message}`, { cause: err })
  }
}

/** Turns ajv's errors into one message per key, e.g. `users[2].roles: must be array`. */
export function formatSchemaErrors (errors: ErrorObject[]): string {
  const lines = new Set<string>()
  for (const e of errors) {
    let key = e.instancePath
      .split('/').slice(1)
      .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
      .reduce((acc, p) => /^\d+$/.test(p) ? `${acc}[${p}]` : acc === '' ? p : `${acc}.${p}`, '')
    let msg = e.message ?? 'is invalid'
    if (e.keyword === 'additionalProperties') {
      const extra = String((e.params as { additionalProperty: string }).additionalProperty)
      key = key === '' ? extra : `${key}.${extra}`
      msg = 'is not a known setting (check its spelling)'
    } else if (e.keyword === 'enum') {
      msg = `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`
    } else if (e.keyword === 'required') {
      const missing = String((e.params as { missingProperty: string }).missingProperty)
      key = key === '' ? missing : `${key}.${missing}`
      msg = 'is required'
    }
    lines.add(`${key === '' ? '(root)' : key}: ${msg}`)
  }
  return [...lines].join('; ')
}

export interface ConfigValidator<T> {
  (data: unknown, source: string): T
}

/** Compiles a schema once; the validator fills defaults, checks, and deep-freezes the result. */
export function createConfigValidator<T> (schema: JSONSchemaType<T> | object): ConfigValidator<T> {
  const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, allowUnionTypes: true })
  const validate = ajv.compile<T>(schema as JSONSchemaType<T>)
  return function validateConfig (data: unknown, source: string): T {
    const copy = structuredClone(data ?? {})
    if (!validate(copy)) {
      throw new WardenError('WARDEN_ERR_CONFIG_INVALID', `invalid config in ${source}: ${formatSchemaErrors(validate.errors ?? [])}`)
    }
    return deepFreeze(copy)
  }
}

export function deepFreeze<T> (value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value)) deepFreeze(v)
  }
  return value
}

/** True for a plain mapping (not null, not an array): what a parsed config section or JSON payload must be to be read. */
export function isRecord (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}
