// One registration rule, two entry points: the config file (parseConfig) and the registry that the HTTP API
// and the control topic call (Registry) give the same answer, refusal and field, for the same input.
import { describe, expect, it } from 'vitest'
import { createLogger } from '../../packages/common/src/index.js'
import { parseConfig } from '../../apps/broker/src/config/load-config.js'
import { claimsInternalRoot } from '../../apps/broker/src/policy/internal-topics.js'
import { grantProblem, registrationProblem, roleNameProblem, unknownRoleProblem } from '../../apps/broker/src/policy/registration.js'
import { createMemoryBackend } from '../../apps/broker/src/registry/memory-backend.js'
import { PayloadSchemas } from '../../apps/broker/src/registry/payload-schema.js'
import { Registry } from '../../apps/broker/src/registry/registry.js'
import { emptyState } from '../../apps/broker/src/registry/types.js'

const logger = createLogger({ name: 'test', level: 'silent' })
const registry = (): Registry => new Registry({
  backend: createMemoryBackend(), initial: emptyState(), anonymousRole: false, schemas: new PayloadSchemas(), hash: async (p) => `hashed:${p.length}`, logger
})

type Answer = { ok: true } | { ok: false, field: string, message: string }

/** the config file's answer: `topics[0].<field>: <message>` or accepted */
function viaConfig (input: object): Answer {
  try {
    parseConfig({ users: [{ username: 'a', password: 'pw', roles: ['admin'] }], ...input })
    return { ok: true }
  } catch (err) {
    const m = /^invalid config in config: (topics\[0\]\.|roles\.|users\[0\]\.)?([^:]+): (.*)$/.exec((err as Error).message)
    if (m === null) throw err
    return { ok: false, field: m[2] as string, message: m[3] as string }
  }
}

/** the API's answer: FieldError `<field>: <message>` or accepted */
async function viaApi (run: (r: Registry) => Promise<unknown>): Promise<Answer> {
  const r = registry()
  try {
    await run(r)
    return { ok: true }
  } catch (err) {
    const e = err as { field?: string, message: string }
    if (e.field === undefined) throw err
    return { ok: false, field: e.field, message: e.message.slice(e.field.length + 2).replace(/ \(known: .*\)$/, '') }
  }
}

describe('topic registrations: config file and API agree', () => {
  it.each<[string, string, string[], string | null]>([
    ['a plain filter', 'plant/+/temp', ['a'], null],
    ['a {username} owner with its level', 'devices/{username}/#', ['{username}'], null],
    ['an owner with no account yet', 'plant/x', ['nobody-yet'], null],
    ['a filter starting with a template', '{username}/x', ['{username}'], null],
    ['a $ topic that is not the broker\'s', '$app/x', ['a'], null],
    ['$SYS', '$SYS/x', ['a'], '$SYS topics belong to the broker'],
    ['the $SYS root alone', '$SYS', ['a'], '$SYS topics belong to the broker'],
    ['$SYS under a wildcard level', '$SYS/+/x', ['a'], '$SYS topics belong to the broker'],
    ['a $SYS look-alike', '$SYSTEM/x', ['a'], '$SYSTEM topics belong to the broker'],
    ['$WARDEN (the config file accepted it before)', '$WARDEN/void', ['a'], '$WARDEN topics belong to the broker'],
    ['$CONTROL', '$CONTROL/warden/v1', ['a'], '$CONTROL topics belong to the broker'],
    ['a $CONTROL look-alike (both accepted it before)', '$CONTROLS/x', ['a'], '$CONTROLS topics belong to the broker'],
    ['a bad wildcard', 'a/b#', ['a'], "'#' must be a whole level"],
    ['an unknown template', 'a/{user}', ['a'], 'only {username} and {clientid} templates are known'],
    ['a {username} owner without its level', 'devices/+/#', ['{username}'], "'{username}' as an owner needs a {username} level"],
    ['a {clientid} owner', 'c/{clientid}/#', ['{clientid}'], "only '{username}' may be used as an owner template"],
    ['an owner no account can have (both accepted it before)', 'plant/x', ['a/b'], 'is not a username'],
    ['an unknown owner template (both accepted it before)', 'a/{username}', ['{user}'], 'is not a username'],
    ['an owner with spaces (both accepted it before)', 'plant/x', ['a b'], 'is not a username']
  ])('%s', async (_what, filter, owners, refusal) => {
    const config = viaConfig({ topics: [{ filter, owners }] })
    const api = await viaApi(async (r) => await r.createTopic({ filter, owners }))
    expect(api).toEqual(config)
    const policy = registrationProblem(filter, owners)
    if (refusal === null) {
      expect(config).toEqual({ ok: true })
      expect(policy).toBeNull()
    } else {
      expect(config).toMatchObject({ ok: false, message: expect.stringContaining(refusal) })
      expect(policy?.message).toContain(refusal)
    }
  })
})

describe('roles: config file and API agree', () => {
  it.each<[string, string[], string | null]>([
    ['plain grants', ['plant/#', '$SYS/#', 'me/{username}/+', 'c/{clientid}'], null],
    ['a bad wildcard', ['ok/#', 'a/#/b'], "'#' must be a whole level"],
    ['an unknown template', ['a/{who}'], 'only {username} and {clientid} templates are known']
  ])('grants: %s', async (_what, subscribe, refusal) => {
    const config = viaConfig({ roles: { shift: { subscribe } } })
    const api = await viaApi(async (r) => await r.createRole({ name: 'shift', subscribe }))
    const strip = (a: Answer): Answer => a.ok ? a : { ...a, field: a.field.replace(/^(shift\.)?subscribe/, '') }
    expect(strip(api)).toEqual(strip(config))
    if (refusal === null) expect(config).toEqual({ ok: true })
    else expect(config).toMatchObject({ ok: false, message: expect.stringContaining(refusal) })
    expect(grantProblem(subscribe)?.message ?? null).toEqual(refusal === null ? null : expect.stringContaining(refusal))
  })

  it.each([
    ['built-in', 'observer', true], ['defined', 'shift', true], ['unknown', 'pilot', false]
  ] as const)('a user holding a %s role', async (_w, role, ok) => {
    const config = viaConfig({ roles: { shift: {} }, users: [{ username: 'a', password: 'pw', roles: ['admin', role] }] })
    const api = await viaApi(async (r) => {
      await r.createRole({ name: 'shift', subscribe: [] })
      await r.createUser({ username: 'a', password: 'secret-pw', roles: ['admin', role] })
    })
    const strip = (a: Answer): Answer => a.ok ? a : { ...a, field: a.field.replace(/^roles/, '') }
    expect(strip(api)).toEqual(strip(config))
    expect(config.ok).toBe(ok)
    if (!ok) expect(config).toMatchObject({ field: 'roles[1]', message: `role "${role}" is not defined under roles` })
  })

  // the API's command schemas and the config file use one role-name pattern (policy/registration.ts)
  it.each([['night-shift', true], ['a/b', false], ['a b', false], ['{x}', false], ['x'.repeat(129), false]] as const)('role name %j', (name, ok) => {
    expect(roleNameProblem(name) === null).toBe(ok)
    const config = viaConfig({ roles: { [name]: {} } })
    expect(config.ok).toBe(ok)
  })

  it('reports the first unknown role with its index', () => {
    expect(unknownRoleProblem(['a', 'b', 'c'], new Set(['a']))).toEqual({ field: '[1]', message: 'role "b" is not defined under roles' })
    expect(unknownRoleProblem([], new Set())).toBeNull()
  })
})

describe('claimsInternalRoot', () => {
  it.each([
    ['$SYS', true], ['$SYS/x', true], ['$SYSTEM/x', true], ['$WARDEN', true], ['$WARDEN/g/x', true], ['$CONTROL/x', true],
    ['$CONTROLS/x', true], ['$app/x', false], ['+/x', false], ['#', false], ['sys/$SYS', false], ['{username}/x', false]
  ])('%j → %s', (filter, want) => {
    expect(claimsInternalRoot(filter)).toBe(want)
  })
})
