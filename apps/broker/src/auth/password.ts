// Password hashing with scrypt (node:crypto): salted, parameters stored with the hash, constant-time compare.
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto'
import { WardenError } from '@warden/common'

export interface ScryptParams {
  readonly N: number
  readonly r: number
  readonly p: number
}

/**
 * N=2^14, r=8, p=1: 16 MiB and ~70 ms a guess on a small server core, paid at every CONNECT (Mosquitto's
 * password files use 101 rounds of PBKDF2). The parameters travel with each hash: `warden passwd --cost 17` raises them.
 */
export const DEFAULT_SCRYPT: ScryptParams = Object.freeze({ N: 16384, r: 8, p: 1 })
const KEY_LENGTH = 32

interface ParsedHash extends ScryptParams {
  readonly salt: Buffer
  readonly key: Buffer
}

function scrypt (password: string | Buffer, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(password, salt, keylen, opts, (err, key) => { if (err) reject(err); else resolve(key) })
  })
}

function scryptOptions ({ N, r, p }: ScryptParams): ScryptOptions {
  return { N, r, p, maxmem: 256 * N * r + 1024 * 1024 }
}

/** Format: scrypt$N$r$p$<salt base64>$<key base64> */
export async function hashPassword (password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(16)
  const key = await scrypt(password, salt, KEY_LENGTH, scryptOptions(params))
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64')}$${key.toString('base64')}`
}

export function parsePasswordHash (hash: string): ParsedHash {
  const parts = hash.split('$')
  const [alg, n, r, p, salt, key] = parts
  const N = Number(n)
  const R = Number(r)
  const P = Number(p)
  // N is a power of two within what node:crypto accepts; bitwise tests would wrap above 2^31
  const validN = Number.isInteger(N) && N >= 2 && N <= 2 ** 24 && Number.isInteger(Math.log2(N))
  if (parts.length !== 6 || alg !== 'scrypt' || !validN || !Number.isInteger(R) || R < 1 || R > 64 ||
      !Number.isInteger(P) || P < 1 || P > 16 || salt === undefined || salt.length < 8 || key === undefined) {
    throw new WardenError('WARDEN_ERR_PASSWORD_HASH', 'must look like scrypt$N$r$p$salt$hash (make one with `warden passwd`)')
  }
  const keyBuf = Buffer.from(key, 'base64')
  if (keyBuf.length < 16) throw new WardenError('WARDEN_ERR_PASSWORD_HASH', 'hash part is too short')
  return { N, r: R, p: P, salt: Buffer.from(salt, 'base64'), key: keyBuf }
}

export async function verifyPassword (password: Buffer | string, hash: string | ParsedHash): Promise<boolean> {
  const h = typeof hash === 'string' ? parsePasswordHash(hash) : hash
  const key = await scrypt(password, h.salt, h.key.length, scryptOptions(h))
  return timingSafeEqual(key, h.key)
}
