// $CONTROL read rules: admins read the control answers implicitly; no role grant opens $CONTROL to others.
import { describe, expect, it } from 'vitest'
import { isControlTopic } from '../../apps/broker/src/policy/control-topics.js'
import { createIdentity } from '../../apps/broker/src/policy/identity.js'
import { createReader, type RoleTable } from '../../apps/broker/src/policy/read-rules.js'

const ROLES: RoleTable = {
  observer: { subscribe: ['#', '$SYS/#'] },
  snoop: { subscribe: ['$CONTROL/#', '$CONTROL/warden/v1/response'] },
  admin: { subscribe: [] }
}
const reader = (roles: string[]): ReturnType<typeof createReader> => createReader(createIdentity('u', 'c', roles), ROLES)

describe('$CONTROL', () => {
  it.each([
    [['admin'], '$CONTROL/warden/v1/response', true],
    [['admin'], '$CONTROL/warden/v1/response/tool-1', true],
    [['admin'], '$CONTROL/warden/v1', false],
    [['admin'], '$CONTROL/other', false],
    [['observer'], '$CONTROL/warden/v1/response', false],
    [['snoop'], '$CONTROL/warden/v1/response', false],
    [['snoop', 'observer'], '$CONTROL/warden/v1/response/x', false],
    [['snoop', 'admin'], '$CONTROL/warden/v1', true]
  ])('roles %j read %s: %s', (roles, topic, expected) => {
    expect(reader(roles).canRead(topic)).toBe(expected)
  })

  it.each([
    [['admin'], '$CONTROL/warden/v1/response', true],
    [['admin'], '$CONTROL/#', true],
    [['admin'], '#', true],
    [['observer'], '$CONTROL/#', false],
    [['snoop'], '$CONTROL/warden/v1/response', false]
  ])('roles %j subscribe %s: %s', (roles, filter, expected) => {
    expect(reader(roles).canSubscribe(filter)).toBe(expected)
  })

  it.each([
    ['$CONTROL', true], ['$CONTROL/x', true], ['$CONTROLLER/x', false], ['CONTROL/x', false], ['$SYS/x', false]
  ])('isControlTopic(%s) = %s', (t, expected) => {
    expect(isControlTopic(t)).toBe(expected)
  })
})
