// A connection's read rules follow its roles' grants as they change at run time, without being rebuilt by
// whoever changed them: a client that was still connecting when the change was applied reads with it too.
import { describe, expect, it } from 'vitest'
import { ClientPolicy } from '../../apps/broker/src/hooks/client-policy.js'
import { createIdentity } from '../../apps/broker/src/policy/identity.js'
import { OwnershipPolicy } from '../../apps/broker/src/policy/ownership.js'
import type { RoleTable } from '../../apps/broker/src/policy/read-rules.js'

describe('ClientPolicy and changing roles', () => {
  it('reads with the grants of the role table\'s current version', () => {
    const roles: { table: RoleTable, version: number } = { table: { consumer: { subscribe: ['sensors/#'] } }, version: 0 }
    const policy = new ClientPolicy(createIdentity('dash', 'c1', ['consumer']), roles, new OwnershipPolicy([]))
    expect(policy.canRead('sensors/a')).toBe(true)
    expect(policy.reader.canSubscribe('private/#')).toBe(false)
    // a change made after the policy was built, with its cached answer for sensors/a
    roles.table = { consumer: { subscribe: ['private/#'] } }
    roles.version++
    expect(policy.canRead('sensors/a')).toBe(false)
    expect(policy.canRead('private/x')).toBe(true)
    expect(policy.reader.canSubscribe('private/#')).toBe(true)
    expect(policy.reader.grants).toEqual(['private/#'])
  })

  it('keeps its reader while the version stands', () => {
    const roles = { table: { consumer: { subscribe: ['a/#'] } }, version: 3 }
    const policy = new ClientPolicy(createIdentity('dash', 'c1', ['consumer']), roles, new OwnershipPolicy([]))
    expect(policy.reader).toBe(policy.reader)
  })
})
