// Control commands: access by role and input checks (one message naming the field), before any effect.
import { describe, expect, it } from 'vitest'
import { executeCommand } from '../../apps/broker/src/control/commands.js'
import type { ControlContext } from '../../apps/broker/src/control/context.js'
import { createIdentity } from '../../apps/broker/src/policy/identity.js'

// refused requests never reach the context
const ctx = {} as ControlContext
const ADMIN = createIdentity('root', 'c', ['admin'])
const OBSERVER = createIdentity('obs', 'c', ['observer'])
const PRODUCER = createIdentity('dev', 'c', ['producer'])

describe('executeCommand refuses', () => {
  it.each([
    [null, '(body)', /must be a JSON object/],
    [[], '(body)', /must be a JSON object/],
    [{}, 'command', /undefined is not a known command/],
    [{ command: 'dropTables' }, 'command', /"dropTables" is not a known command \(listUsers, getUser/],
    [{ command: 'createUser', username: 'x', roles: [], password: 'long-enough', extra: 1 }, 'extra', /is not a known field/],
    [{ command: 'createUser', roles: [] }, 'username', /is required/],
    [{ command: 'createUser', username: '', roles: [] }, 'username', /fewer than 1 characters/],
    [{ command: 'createUser', username: 'a#b', roles: [] }, 'username', /must not contain/],
    [{ command: 'createUser', username: 'x'.repeat(257), roles: [] }, 'username', /more than 256/],
    [{ command: 'createUser', username: 'x', roles: ['a', 'a'] }, 'roles', /duplicate items/],
    [{ command: 'createUser', username: 'x', roles: [], password: 'p'.repeat(1025) }, 'password', /more than 1024/],
    [{ command: 'modifyUser', username: 'x' }, '(body)', /names nothing to change/],
    [{ command: 'createTopic', filter: 'a', owners: ['x', 'x'] }, 'owners', /duplicate items/],
    [{ command: 'createTopic', filter: 'a', owners: [''] }, 'owners[0]', /fewer than 1 characters/],
    [{ command: 'modifyTopic', filter: 'a', schema: 3 }, 'schema', /must be object/],
    [{ command: 'listClients', limit: 0 }, 'limit', /must be >= 1/],
    [{ command: 'getTopic' }, 'filter', /is required/]
  ])('%j: names %s', async (request, field, message) => {
    const err = await executeCommand(ctx, { identity: ADMIN, fingerprint: undefined }, 'http', request).then(() => undefined, (e: unknown) => e)
    expect(err).toMatchObject({ code: 'WARDEN_ERR_API_BAD_REQUEST', field })
    expect((err as Error).message).toMatch(message)
    expect((err as Error).message.startsWith(`${field}: `)).toBe(true)
  })

  it.each([
    [OBSERVER, 'createUser', /createUser needs the admin role/],
    [OBSERVER, 'deleteTopic', /needs the admin role/],
    [PRODUCER, 'listUsers', /listUsers needs the admin or observer role/],
    [PRODUCER, 'getStatus', /admin or observer/]
  ] as const)('a caller without the role (%#), before checking fields', async (actor, command, message) => {
    await expect(executeCommand(ctx, { identity: actor, fingerprint: undefined }, 'mqtt', { command }))
      .rejects.toMatchObject({ code: 'WARDEN_ERR_API_FORBIDDEN', message: expect.stringMatching(message) })
  })
})
