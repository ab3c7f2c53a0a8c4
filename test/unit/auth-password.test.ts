// scrypt password hashes, and the user directory that checks CONNECT credentials (return codes 4 and 5).
import { beforeAll, describe, expect, it } from 'vitest'
import { hashPassword, parsePasswordHash, verifyPassword } from '../../apps/broker/src/auth/password.js'
import { createUserDirectory, isLoopback, type AuthResult, type UserDirectory } from '../../apps/broker/src/auth/user-directory.js'

const FAST = { N: 1024, r: 8, p: 1 }
const HASH = await hashPassword('secret', FAST)
const [, , , , SALT, KEY] = HASH.split('$') as string[]

describe('hashPassword / verifyPassword', () => {
  it.each(['secret', '', 'pässwörd🔑', 'a'.repeat(1000), 'with$dollar', "quote' OR 1=1"])('round trip %j', async (pw) => {
    const h = await hashPassword(pw, FAST)
    expect(h).toMatch(/^scrypt\$1024\$8\$1\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$/)
    expect(await verifyPassword(pw, h)).toBe(true)
    expect(await verifyPassword(Buffer.from(pw, 'utf8'), h)).toBe(true)
    expect(await verifyPassword(pw + 'x', h)).toBe(false)
  })

  it.each(['Secret', 'secret ', 'secre', '', 'secret\u0001', '\u0000secret'])('wrong password %j is false', async (pw) => {
    expect(await verifyPassword(pw, HASH)).toBe(false)
  })

  it('salts every hash and keeps the parameters with it', async () => {
    const a = await hashPassword('same', { N: 2048, r: 4, p: 2 })
    const b = await hashPassword('same', { N: 2048, r: 4, p: 2 })
    expect(a).not.toBe(b)
    expect(parsePasswordHash(a)).toMatchObject({ N: 2048, r: 4, p: 2 })
    expect(parsePasswordHash(a).salt).toHaveLength(16)
    expect(parsePasswordHash(a).key).toHaveLength(32)
    expect(await verifyPassword('same', parsePasswordHash(b))).toBe(true)
  })
})

describe('parsePasswordHash rejects malformed hashes', () => {
  it.each([
    ['empty', ''],
    ['other algorithm', HASH.replace(/^scrypt/, 'bcrypt')],
    ['upper-case algorithm', HASH.replace(/^scrypt/, 'SCRYPT')],
    ['leading space', ' ' + HASH],
    ['too few parts', `scrypt$1024$8$1$${SALT}`],
    ['too many parts', `${HASH}$x`],
    ['N not a power of two', `scrypt$1000$8$1$${SALT}$${KEY}`],
    ['N = 1', `scrypt$1$8$1$${SALT}$${KEY}`],
    ['N = 0', `scrypt$0$8$1$${SALT}$${KEY}`],
    ['N negative', `scrypt$-1024$8$1$${SALT}$${KEY}`],
    ['N fractional', `scrypt$1024.5$8$1$${SALT}$${KEY}`],
    ['N not a number', `scrypt$abc$8$1$${SALT}$${KEY}`],
    ['N empty', `scrypt$$8$1$${SALT}$${KEY}`],
    ['r = 0', `scrypt$1024$0$1$${SALT}$${KEY}`],
    ['p = 0', `scrypt$1024$8$0$${SALT}$${KEY}`],
    ['r fractional', `scrypt$1024$1.5$1$${SALT}$${KEY}`],
    ['key too short', `scrypt$1024$8$1$${SALT}$${Buffer.alloc(8).toString('base64')}`],
    ['key empty', `scrypt$1024$8$1$${SALT}$`]
  ])('%s', (_name, hash) => {
    expect(() => parsePasswordHash(hash)).toThrow(expect.objectContaining({ code: 'WARDEN_ERR_PASSWORD_HASH' }))
  })

  // a 32-bit bitwise power-of-two test would let multiples of 2^32 through, and node's scrypt rejects them at CONNECT
  it.each([
    ['N = 3·2^32 (not a power of two)', 3 * 2 ** 32],
    ['N = 2^32 (beyond scrypt)', 2 ** 32],
    ['N = 2^40 (beyond scrypt)', 2 ** 40]
  ])('%s', (_name, N) => {
    expect(() => parsePasswordHash(`scrypt$${N}$8$1$${SALT}$${KEY}`)).toThrow(expect.objectContaining({ code: 'WARDEN_ERR_PASSWORD_HASH' }))
  })

  it('verifyPassword on a malformed hash throws the coded error', async () => {
    await expect(verifyPassword('secret', 'scrypt$nope')).rejects.toMatchObject({ code: 'WARDEN_ERR_PASSWORD_HASH' })
  })
})

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
