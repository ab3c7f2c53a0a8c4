// The checks every registry entry passes, whether it comes from the API, the control topic or the config file.
import { parsePasswordHash } from '../auth/password.js'
import { isControlTopic } from '../policy/control-topics.js'
import { checkFilter, hasTemplate } from '../policy/topic.js'
import { FieldError } from './field-error.js'

export const BUILTIN_ROLES: readonly string[] = ['admin', 'producer', 'consumer', 'observer']

export function checkRoles (roles: readonly string[], known: ReadonlySet<string>, field = 'roles'): void {
  roles.forEach((r, i) => {
    if (!known.has(r)) throw new FieldError('WARDEN_ERR_UNKNOWN_ROLE', `${field}[${i}]`, `role ${JSON.stringify(r)} is not defined under roles (known: ${[...known].join(', ')})`)
  })
}

/** A role's read grants: MQTT filters, {username}/{clientid} templates allowed. */
export function checkGrants (subscribe: readonly string[], field = 'subscribe'): void {
  subscribe.forEach((f, i) => {
    const why = checkFilter(f)
    if (why !== null) throw new FieldError('WARDEN_ERR_TOPIC_FILTER', `${field}[${i}]`, `${JSON.stringify(f)} ${why}`)
  })
}

export function checkPasswordHash (hash: string, field = 'passwordHash'): void {
  try {
    parsePasswordHash(hash)
  } catch (err) {
    throw new FieldError('WARDEN_ERR_PASSWORD_HASH', field, (err as Error).message)
  }
}

/** A registration's filter and owners: MQTT syntax, no broker-owned topics, the '{username}' owner rule. */
export function checkRegistration (filter: string, owners: readonly string[], field = ''): void {
  const at = (key: string): string => field === '' ? key : `${field}.${key}`
  const why = checkFilter(filter)
  if (why !== null) throw new FieldError('WARDEN_ERR_TOPIC_FILTER', at('filter'), `${JSON.stringify(filter)} ${why}`)
  if (filter.startsWith('$SYS') || isControlTopic(filter) || filter.startsWith('$WARDEN')) {
    throw new FieldError('WARDEN_ERR_TOPIC_FILTER', at('filter'), `${filter.split('/')[0] ?? ''} topics belong to the broker and cannot be registered`)
  }
  owners.forEach((o, j) => {
    if (o === '{username}' && !filter.includes('{username}')) {
      throw new FieldError('WARDEN_ERR_TOPIC_FILTER', at(`owners[${j}]`), "'{username}' as an owner needs a {username} level in the filter (otherwise every user would own it)")
    }
    if (o !== '{username}' && hasTemplate(o)) throw new FieldError('WARDEN_ERR_TOPIC_FILTER', at(`owners[${j}]`), "only '{username}' may be used as an owner template")
  })
}
