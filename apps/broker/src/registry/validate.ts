// The checks every registry entry passes from the API and the control topic: the rules of
// policy/registration.ts (which the config file uses too), thrown as coded field errors.
import { parsePasswordHash } from '../auth/password.js'
import { grantProblem, registrationProblem, unknownRoleProblem } from '../policy/registration.js'
import { FieldError } from './field-error.js'

export { BUILTIN_ROLES } from '../policy/registration.js'

export function checkRoles (roles: readonly string[], known: ReadonlySet<string>, field = 'roles'): void {
  const p = unknownRoleProblem(roles, known)
  if (p !== null) throw new FieldError('WARDEN_ERR_UNKNOWN_ROLE', `${field}${p.field}`, `${p.message} (known: ${[...known].join(', ')})`)
}

/** A role's read grants: MQTT filters, {username}/{clientid} templates allowed. */
export function checkGrants (subscribe: readonly string[], field = 'subscribe'): void {
  const p = grantProblem(subscribe)
  if (p !== null) throw new FieldError('WARDEN_ERR_TOPIC_FILTER', `${field}${p.field}`, p.message)
}

export function checkPasswordHash (hash: string, field = 'passwordHash'): void {
  try {
    parsePasswordHash(hash)
  } catch (err) {
    throw new FieldError('WARDEN_ERR_PASSWORD_HASH', field, (err as Error).message)
  }
}

/** A registration's filter and owners (see registrationProblem). */
export function checkRegistration (filter: string, owners: readonly string[], field = ''): void {
  const p = registrationProblem(filter, owners)
  if (p !== null) throw new FieldError('WARDEN_ERR_TOPIC_FILTER', field === '' ? p.field : `${field}.${p.field}`, p.message)
}
