// JSON Schemas of registrations, compiled once with ajv into payload checks the hooks run per message.
import { Ajv } from 'ajv'
import { formatSchemaErrors } from '@warden/common'
import type { PayloadCheck } from '../policy/decision.js'
import { FieldError } from './field-error.js'

/** Compiled schemas, keyed by their JSON text: a registration updated without a new schema is not recompiled. */
export class PayloadSchemas {
  private readonly compiled = new Map<string, PayloadCheck>()

  /** Compiles (or reuses) a check; throws WARDEN_ERR_PAYLOAD_SCHEMA naming `field` when it does not compile. */
  check (schema: Readonly<Record<string, unknown>>, field = 'schema'): PayloadCheck {
    const key = JSON.stringify(schema)
    let check = this.compiled.get(key)
    if (check === undefined) {
      check = compilePayloadSchema(schema, field)
      this.compiled.set(key, check)
    }
    return check
  }

  /** Forgets compiled schemas no registration uses any more. */
  retain (inUse: Iterable<Readonly<Record<string, unknown>>>): void {
    const keep = new Set<string>()
    for (const s of inUse) keep.add(JSON.stringify(s))
    for (const key of this.compiled.keys()) if (!keep.has(key)) this.compiled.delete(key)
  }
}

export function compilePayloadSchema (schema: Readonly<Record<string, unknown>>, field = 'schema'): PayloadCheck {
  // one ajv per schema: ids ($id) of different registrations cannot collide, and a dropped schema is freed.
  // unknown keywords and formats are errors rather than silently ignored constraints; ajv's stricter
  // style rules (e.g. `required` without `properties`) would refuse valid JSON Schema, so they are off
  const ajv = new Ajv({
    strictSchema: true, strictNumbers: true, strictTypes: false, strictTuples: false, strictRequired: false, allErrors: false, validateFormats: true
  })
  let validate: ReturnType<Ajv['compile']>
  try {
    validate = ajv.compile(schema)
  } catch (err) {
    throw new FieldError('WARDEN_ERR_PAYLOAD_SCHEMA', field, `is not a usable JSON Schema: ${(err as Error).message}`)
  }
  return function checkPayload (payload: Buffer | string): string | null {
    let data: unknown
    try {
      data = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'))
    } catch {
      return 'payload is not JSON'
    }
    return validate(data) ? null : `payload ${formatSchemaErrors(validate.errors ?? [])}`
  }
}
