// What may be registered, whoever registers it: the config file (load-config.ts) and the registry's API and
// control topic (registry/validate.ts) call these same functions, so both layers answer alike for one input.
import { claimsInternalRoot } from './internal-topics.js'
import { checkFilter, hasTemplate } from './topic.js'

/** Roles every broker has; they may be given grants but never deleted. */
export const BUILTIN_ROLES: readonly string[] = ['admin', 'producer', 'consumer', 'observer', 'metrics']

/** A username ('/', '+', '#', '{', '}' would inject topic syntax through {username} templates). */
export const USERNAME_PATTERN = '^[^/+#{}\\s]+$'
export const USERNAME_MAX = 256
/** A role name: the same characters as a username. */
export const ROLE_NAME_PATTERN = '^[^/+#{}\\s]+$'
export const ROLE_NAME_MAX = 128

/** One broken rule: `field` is relative to the value checked (`filter`, `owners[1]`, `[2]`). */
export interface RuleProblem {
  readonly field: string
  readonly message: string
}

const USERNAME = new RegExp(USERNAME_PATTERN)
const ROLE_NAME = new RegExp(ROLE_NAME_PATTERN)

/** Why `name` cannot be a role's name, or null. */
export function roleNameProblem (name: string): string | null {
  if (name.length === 0 || name.length > ROLE_NAME_MAX || !ROLE_NAME.test(name)) {
    return `${JSON.stringify(name)} must be 1 to ${ROLE_NAME_MAX} characters without '/', '+', '#', '{', '}' or spaces`
  }
  return null
}

/** The first role of `roles` that is not in `known` (built-in roles included by the caller). */
export function unknownRoleProblem (roles: readonly string[], known: ReadonlySet<string>): RuleProblem | null {
  for (let i = 0; i < roles.length; i++) {
    const r = roles[i] as string
    if (!known.has(r)) return { field: `[${i}]`, message: `role ${JSON.stringify(r)} is not defined under roles` }
  }
  return null
}

/** A role's read grants: MQTT filters, {username}/{clientid} templates allowed. */
export function grantProblem (subscribe: readonly string[]): RuleProblem | null {
  for (let i = 0; i < subscribe.length; i++) {
    const f = subscribe[i] as string
    const why = checkFilter(f)
    if (why !== null) return { field: `[${i}]`, message: `${JSON.stringify(f)} ${why}` }
  }
  return null
}

/**
 * A registration's filter and owners: MQTT syntax; no topic under the broker's own roots ($SYS, $WARDEN,
 * $CONTROL — see internal-topics.ts); each owner a possible username or the '{username}' template, which
 * needs a {username} level in the filter. Owners need not exist yet: a topic may be registered before its
 * owner's account, and deleting an account leaves its topics registered with no owner.
 */
export function registrationProblem (filter: string, owners: readonly string[]): RuleProblem | null {
  const why = checkFilter(filter)
  if (why !== null) return { field: 'filter', message: `${JSON.stringify(filter)} ${why}` }
  if (claimsInternalRoot(filter)) {
    return { field: 'filter', message: `${filter.split('/')[0] ?? ''} topics belong to the broker and cannot be registered` }
  }
  for (let j = 0; j < owners.length; j++) {
    const o = owners[j] as string
    const field = `owners[${j}]`
    if (o === '{username}') {
      if (!filter.includes('{username}')) {
        return { field, message: "'{username}' as an owner needs a {username} level in the filter (otherwise every user would own it)" }
      }
      continue
    }
    if (hasTemplate(o)) return { field, message: "only '{username}' may be used as an owner template" }
    if (o.length === 0 || o.length > USERNAME_MAX || !USERNAME.test(o)) {
      return { field, message: `${JSON.stringify(o)} is not a username: 1 to ${USERNAME_MAX} characters without '/', '+', '#', '{', '}' or spaces` }
    }
  }
  return null
}
