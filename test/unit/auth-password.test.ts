// scrypt password hashes.
import { describe, expect, it } from 'vitest'
import { hashPassword, parsePasswordHash, verifyPassword } from '../../apps/broker/src/auth/password.js'

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
