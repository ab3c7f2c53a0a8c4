// Who a connected client is, as far as the security rules care.
import type { TemplateContext } from './topic.js'

export interface Identity extends TemplateContext {
  /** undefined for anonymous clients */
  readonly username: string | undefined
  readonly clientId: string
  readonly roles: readonly string[]
  /** holds the admin role: reads everything, $SYS included, and uses the control plane */
  readonly admin: boolean
  /** holds the observer role: may read $SYS */
  readonly observer: boolean
}

export function createIdentity (username: string | undefined, clientId: string, roles: readonly string[]): Identity {
  return Object.freeze({
    username,
    clientId,
    // a frozen list is shared as it is (an account's, the anonymous role's): not a copy per connection
    roles: Object.isFrozen(roles) ? roles : Object.freeze([...roles]),
    admin: roles.includes('admin'),
    observer: roles.includes('observer')
  })
}
