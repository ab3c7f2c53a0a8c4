// Turns ajv's errors about a request into one coded error naming the field, e.g. `roles[0]: must be string`.
import type { ErrorObject } from 'ajv'
import { FieldError } from '../registry/field-error.js'

function fieldOf (e: ErrorObject): string {
  const path = e.instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
  let key = path.reduce((acc, p) => /^\d+$/.test(p) ? `${acc}[${p}]` : acc === '' ? p : `${acc}.${p}`, '')
  const params = e.params as Record<string, unknown>
  if (e.keyword === 'required') key = key === '' ? String(params.missingProperty) : `${key}.${String(params.missingProperty)}`
  if (e.keyword === 'additionalProperties') key = key === '' ? String(params.additionalProperty) : `${key}.${String(params.additionalProperty)}`
  return key === '' ? '(body)' : key
}

function messageOf (e: ErrorObject): string {
  switch (e.keyword) {
    case 'required': return 'is required'
    case 'additionalProperties': return 'is not a known field (check its spelling)'
    case 'minProperties': return 'names nothing to change'
    case 'pattern': return e.instancePath === '/username'
      ? "must not contain '/', '+', '#', '{', '}' or white space"
      : `must match ${String((e.params as { pattern: string }).pattern)}`
    default: return e.message ?? 'is invalid'
  }
}

/** The first error decides (fields are checked in schema order); the message names its field. */
export function requestError (errors: readonly ErrorObject[] | null | undefined): FieldError {
  const first = errors?.[0]
  if (first === undefined) return new FieldError('WARDEN_ERR_API_BAD_REQUEST', '(body)', 'is invalid')
  return new FieldError('WARDEN_ERR_API_BAD_REQUEST', fieldOf(first), messageOf(first))
}
