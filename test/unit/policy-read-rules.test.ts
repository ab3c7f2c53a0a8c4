// Read rules: resolved grants, canRead, canSubscribe; $SYS only for admin/observer.
import { describe, expect, it } from 'vitest'
import { createIdentity, type Identity } from '../../apps/broker/src/policy/identity.js'
import { createReader, resolveGrants, type RoleTable } from '../../apps/broker/src/policy/read-rules.js'

const ROLES: RoleTable = {
  producer: { subscribe: ['devices/{username}/cmd/#'] },
  consumer: { subscribe: ['sensors/#', 'devices/+/telemetry', '$SYS/#'] },
  observer: { subscribe: ['#', '$SYS/#'] },
  admin: { subscribe: [] },
  everything: { subscribe: ['#'] },
  client: { subscribe: ['clients/{clientid}/inbox', 'rooms/{username}-{clientid}'] },
  sysonly: { subscribe: ['$SYS/broker/#'] },
  dollar: { subscribe: ['$app/#'] },
  empty: { subscribe: ['a//b', '/lead'] }
}

const id = (username: string | undefined, roles: string[], clientId = 'c1'): Identity => createIdentity(username, clientId, roles)
const ALICE = id('alice', ['producer'])
const CONSUMER = id('consumer', ['consumer'])
const OBSERVER = id('obs', ['observer'])
const ADMIN = id('root', ['admin'])
const CAROL = id('carol', ['everything'])
const BOB = id('bob', ['client'], 'c1')
const EVE = id('eve', ['dollar'])
const JOSE = id('josé', ['producer'])
const NOBODY = id('frank', ['not-a-role'])
const ANON = id(undefined, ['producer', 'client'], 'c9')

describe('createIdentity', () => {
  it.each<[string[], boolean, boolean]>([
    [[], false, false], [['admin'], true, false], [['observer'], false, true], [['producer', 'observer', 'admin'], true, true],
    [['Admin'], false, false]
  ])('roles %j → admin %s, observer %s', (roles, admin, observer) => {
    const i = createIdentity('u', 'c', roles)
    expect(i).toMatchObject({ username: 'u', clientId: 'c', roles, admin, observer })
    expect(Object.isFrozen(i) && Object.isFrozen(i.roles)).toBe(true)
  })
  it('copies the roles', () => {
    const roles = ['producer']
    const i = createIdentity(undefined, 'c', roles)
    roles.push('admin')
    expect(i.roles).toEqual(['producer'])
    expect(i.username).toBeUndefined()
  })
})

describe('resolveGrants', () => {
  it.each<[string, Identity, string[]]>([
    ['producer: template resolved', ALICE, ['devices/alice/cmd/#']],
    ['anonymous: {username} grants dropped', id(undefined, ['producer']), []],
    ['injecting username: grant dropped', id('a/b', ['producer']), []],
    ['injecting username +', id('+', ['producer']), []],
    ['consumer: $SYS grant ignored', CONSUMER, ['sensors/#', 'devices/+/telemetry']],
    ['observer', OBSERVER, ['#', '$SYS/#']],
    ['admin: implicit #, $SYS/# and control answers', ADMIN, ['#', '$SYS/#', '$CONTROL/warden/v1/response/#']],
    ['admin + consumer: $SYS kept, no duplicates', id('root', ['admin', 'consumer']),
      ['#', '$SYS/#', '$CONTROL/warden/v1/response/#', 'sensors/#', 'devices/+/telemetry']],
    ['everything', CAROL, ['#']],
    ['client: {clientid} and mixed level', BOB, ['clients/c1/inbox', 'rooms/bob-c1']],
    ['anonymous client: only the {clientid} grant', ANON, ['clients/c9/inbox']],
    ['injecting client id', id('bob', ['client'], 'c/#'), []],
    ['$SYS-only role without observer', id('dave', ['sysonly']), []],
    ['$SYS-only role with observer', id('dave', ['observer', 'sysonly']), ['#', '$SYS/#', '$SYS/broker/#']],
    ['$SYS-only role with admin', id('dave', ['admin', 'sysonly']), ['#', '$SYS/#', '$CONTROL/warden/v1/response/#', '$SYS/broker/#']],
    ['other $ grants are for anyone', EVE, ['$app/#']],
    ['unknown role', NOBODY, []],
    ['empty levels kept', id('e', ['empty']), ['a//b', '/lead']],
    ['unicode', JOSE, ['devices/josé/cmd/#']],
    ['username $SYS cannot smuggle a $SYS grant', id('$SYS', ['dollarUser']), []]
  ])('%s', (_name, identity, expected) => {
    const roles: RoleTable = { ...ROLES, dollarUser: { subscribe: ['{username}/#'] } }
    expect(resolveGrants(identity, roles).sort()).toEqual([...expected].sort())
  })
})

// [identity, topic, may read]
const READ_ROWS: Array<[string, Identity, string, boolean]> = [
  ['consumer', CONSUMER, 'sensors/t', true], ['consumer', CONSUMER, 'sensors', true], ['consumer', CONSUMER, 'sensors/a/b/c', true],
  ['consumer', CONSUMER, 'devices/d1/telemetry', true], ['consumer', CONSUMER, 'devices//telemetry', true],
  ['consumer', CONSUMER, 'devices/d1/status', false], ['consumer', CONSUMER, 'devices/d1/telemetry/x', false],
  ['consumer', CONSUMER, '$SYS/broker/uptime', false], ['consumer', CONSUMER, 'other', false], ['consumer', CONSUMER, 'Sensors/t', false],
  ['# grant', CAROL, 'a', true], ['# grant', CAROL, '/', true], ['# grant', CAROL, 'ü/🦊', true],
  ['# grant', CAROL, '$SYS/x', false], ['# grant', CAROL, '$SYS', false], ['# grant', CAROL, '$app/x', false],
  ['observer', OBSERVER, '$SYS/x', true], ['observer', OBSERVER, '$SYS', true], ['observer', OBSERVER, 'a/b', true], ['observer', OBSERVER, '$app/x', false],
  ['admin', ADMIN, '$SYS/broker/clients', true], ['admin', ADMIN, 'x', true], ['admin', ADMIN, '$app/x', false],
  ['producer', ALICE, 'devices/alice/cmd/reboot', true], ['producer', ALICE, 'devices/alice/cmd', true],
  ['producer', ALICE, 'devices/bob/cmd/x', false], ['producer', ALICE, 'devices/alice/telemetry', false],
  ['producer', ALICE, 'devices/+/cmd/x', false],
  ['client', BOB, 'clients/c1/inbox', true], ['client', BOB, 'clients/c2/inbox', false], ['client', BOB, 'rooms/bob-c1', true],
  ['client', BOB, 'rooms/bob-c2', false],
  ['anonymous', ANON, 'clients/c9/inbox', true], ['anonymous', ANON, 'devices//cmd/x', false], ['anonymous', ANON, 'devices/undefined/cmd/x', false],
  ['$app', EVE, '$app/x', true], ['$app', EVE, 'app/x', false],
  ['unicode', JOSE, 'devices/josé/cmd/x', true], ['unicode NFD', JOSE, 'devices/jose\u0301/cmd/x', false],
  ['empty levels', id('e', ['empty']), 'a//b', true], ['empty levels', id('e', ['empty']), 'a/b', false],
  ['empty levels', id('e', ['empty']), '/lead', true], ['empty levels', id('e', ['empty']), 'lead', false],
  ['no grants', NOBODY, 'x', false], ['no grants', NOBODY, '$SYS/x', false]
]

describe('canRead', () => {
  it.each(READ_ROWS)('%s: %j → %s', (_name, identity, topic, expected) => {
    expect(createReader(identity, ROLES).canRead(topic)).toBe(expected)
  })
})

// [identity, filter, may subscribe]
const SUBSCRIBE_ROWS: Array<[string, Identity, string, boolean]> = [
  // a filter that partly overlaps a grant is accepted: forwarding filters what is not readable
  ['consumer', CONSUMER, '#', true], ['consumer', CONSUMER, '+/#', true], ['consumer', CONSUMER, 'sensors/#', true],
  ['consumer', CONSUMER, 'sensors/+/x', true], ['consumer', CONSUMER, 'sensors', true], ['consumer', CONSUMER, '+/+', true],
  ['consumer', CONSUMER, 'devices/+/+', true], ['consumer', CONSUMER, '+/+/telemetry', true],
  ['consumer', CONSUMER, 'other/#', false], ['consumer', CONSUMER, 'devices/d1/status', false], ['consumer', CONSUMER, 'devices/+', false],
  ['consumer', CONSUMER, '$SYS/#', false], ['consumer', CONSUMER, '$SYS/broker/uptime', false],
  ['# grant', CAROL, 'x', true], ['# grant', CAROL, '#', true], ['# grant', CAROL, '$SYS/#', false], ['# grant', CAROL, '$app/x', false],
  ['observer', OBSERVER, '$SYS/#', true], ['observer', OBSERVER, '$SYS/broker/+', true], ['observer', OBSERVER, '#', true],
  ['admin', ADMIN, '$SYS/+', true], ['admin', ADMIN, '+/+/+', true],
  ['producer', ALICE, 'devices/+/cmd/#', true], ['producer', ALICE, 'devices/alice/#', true], ['producer', ALICE, '#', true],
  ['producer', ALICE, 'devices/bob/#', false], ['producer', ALICE, 'devices/alice/telemetry', false],
  // a literal '{username}' in a client's filter is just text
  ['producer', ALICE, 'devices/{username}/cmd/x', false],
  ['no grants', NOBODY, '#', false], ['no grants', NOBODY, '$SYS/#', false]
]

describe('canSubscribe', () => {
  it.each(SUBSCRIBE_ROWS)('%s: %j → %s', (_name, identity, filter, expected) => {
    expect(createReader(identity, ROLES).canSubscribe(filter)).toBe(expected)
  })

  it('for a topic name equals canRead', () => {
    const identities = [ALICE, CONSUMER, OBSERVER, ADMIN, CAROL, BOB, EVE, JOSE, NOBODY, ANON]
    const topics = [...new Set(READ_ROWS.map((r) => r[2]).filter((t) => !t.includes('+')))]
    for (const identity of identities) {
      const reader = createReader(identity, ROLES)
      for (const t of topics) expect(reader.canSubscribe(t), `${String(identity.username)} ${t}`).toBe(reader.canRead(t))
    }
  })
})

describe('readsAllPlain', () => {
  it.each<[Identity, boolean]>([[CAROL, true], [OBSERVER, true], [ADMIN, true], [CONSUMER, false], [ALICE, false]])('%o → %s', (identity, expected) => {
    expect(createReader(identity, ROLES).readsAllPlain).toBe(expected)
  })
})
