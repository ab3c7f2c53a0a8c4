// The user directory that checks CONNECT credentials (return codes 4 and 5).
import { beforeAll, describe, expect, it } from 'vitest'
import { hashPassword } from '../../apps/broker/src/auth/password.js'
import { createUserDirectory, isLoopback, type AuthResult, type UserDirectory } from '../../apps/broker/src/auth/user-directory.js'

const FAST = { N: 1024, r: 8, p: 1 }

describe('isLoopback', () => {
  it.each<[string | undefined, boolean]>([
    ['127.0.0.1', true], ['127.8.9.10', true], ['127.255.255.255', true], ['::1', true], ['::ffff:127.0.0.1', true], ['::ffff:127.1.2.3', true],
    [undefined, false], ['', false], ['128.0.0.1', false], ['10.0.0.1', false], ['0.0.0.0', false], ['::', false], ['::2', false],
    ['::ffff:10.0.0.1', false], ['fe80::1', false], ['127.0.0.1.evil.com', false], ['127.1', false], ['localhost', false],
    ['1127.0.0.1', false], ['::ffff:', false]
  ])('%j → %s', (address, expected) => {
    expect(isLoopback(address)).toBe(expected)
  })
})

describe('createUserDirectory', () => {
  let dir: UserDirectory
  let anonDir: UserDirectory
  beforeAll(async () => {
    const [aliceHash, joseHash, locHash] = await Promise.all([hashPassword('secret', FAST), hashPassword('pässwörd🔑', FAST), hashPassword('pw2', FAST)])
    dir = await createUserDirectory({
      anonymous: false,
      users: [
        { username: 'alice', passwordHash: aliceHash, roles: ['producer'] },
        { username: 'josé', passwordHash: joseHash, roles: ['consumer'] },
        { username: 'loc', passwordHash: locHash, roles: ['admin'], loopbackOnly: true },
        { username: 'demo', password: 'pw', roles: ['producer'] }
      ]
    })
    anonDir = await createUserDirectory({ anonymous: 'guest', users: [] })
  })

  const ok = (username: string | undefined, roles: string[]): AuthResult => ({ ok: true, username, roles })
  const bad = { ok: false, returnCode: 4, reason: 'bad-credentials' }
  const refused = { ok: false, returnCode: 5, reason: 'not-authorized' }

  it.each<[string | undefined, string | undefined, string | undefined, object]>([
    ['alice', 'secret', '10.0.0.5', ok('alice', ['producer'])],
    ['alice', 'secret', undefined, ok('alice', ['producer'])],
    ['alice', 'wrong', '127.0.0.1', bad],
    ['alice', '', '127.0.0.1', bad],
    ['alice', undefined, '127.0.0.1', bad],
    ['ALICE', 'secret', '127.0.0.1', bad],
    ['alice ', 'secret', '127.0.0.1', bad],
    ['nobody', 'secret', '127.0.0.1', bad],
    ['', 'secret', '127.0.0.1', bad],
    ['alice/#', 'secret', '127.0.0.1', bad],
    ['josé', 'pässwörd🔑', '10.0.0.5', ok('josé', ['consumer'])],
    ['jose\u0301', 'pässwörd🔑', '10.0.0.5', bad],
    // plain-password demo accounts are loopback-only; the password is checked first
    ['demo', 'pw', '127.0.0.1', ok('demo', ['producer'])],
    ['demo', 'pw', '127.8.9.10', ok('demo', ['producer'])],
    ['demo', 'pw', '::1', ok('demo', ['producer'])],
    ['demo', 'pw', '::ffff:127.0.0.1', ok('demo', ['producer'])],
    ['demo', 'pw', '10.0.0.1', refused],
    ['demo', 'pw', '::ffff:10.0.0.1', refused],
    ['demo', 'pw', '128.0.0.1', refused],
    ['demo', 'pw', 'fe80::1', refused],
    ['demo', 'pw', undefined, refused],
    ['demo', 'wrong', '10.0.0.1', bad],
    ['loc', 'pw2', '127.0.0.1', ok('loc', ['admin'])],
    ['loc', 'pw2', '192.168.1.2', refused],
    [undefined, undefined, '127.0.0.1', refused]
  ])('%j / %j from %j', async (username, password, address, expected) => {
    const res = await dir.authenticate(username, password === undefined ? undefined : Buffer.from(password, 'utf8'), address)
    expect(res).toMatchObject(expected)
  })

  it('anonymous clients get the anonymous role when allowed', async () => {
    expect(await anonDir.authenticate(undefined, undefined, '10.0.0.1')).toEqual(ok(undefined, ['guest']))
    expect(await anonDir.authenticate('alice', Buffer.from('secret'), '10.0.0.1')).toMatchObject(bad)
  })

  it('lists accounts and the plain ones', () => {
    expect([...dir.accounts.keys()]).toEqual(['alice', 'josé', 'loc', 'demo'])
    expect(dir.plainAccounts).toEqual(['demo'])
    expect(dir.accounts.get('demo')).toMatchObject({ plain: true, loopbackOnly: true })
    expect(dir.accounts.get('alice')).toMatchObject({ plain: false, loopbackOnly: false })
  })
})
