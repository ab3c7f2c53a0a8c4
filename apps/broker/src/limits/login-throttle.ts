// Failed-login throttling against password guessing, keyed so that it cannot be turned against honest
// devices: a (username, address) pair and an address are locked out after too many failures (doubling on
// each repeat); a username alone is never locked — its failures from everywhere only lengthen the delay
// before each refusal, so a right password from an address without failures always gets through.
import { isIPv6 } from 'node:net'
import type { LoginThrottleConfig } from '../config/hardening-schema.js'

/**
 * The address a login is counted under: IPv4 as it is, IPv6 by its /64 — one host or one site is handed a
 * whole /64, so counting single IPv6 addresses would let one attacker rotate past every per-address limit.
 */
export function throttleAddress (address: string | undefined): string | undefined {
  if (address === undefined) return undefined
  const a = address.replace(/%.*$/, '')
  if (!isIPv6(a) || a.toLowerCase().startsWith('::ffff:')) return address
  const [head = '', tail] = a.split('::')
  const h = head === '' ? [] : head.split(':')
  const t = tail === undefined || tail === '' ? [] : tail.split(':')
  const full = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t]
  return `${full.slice(0, 4).map((x) => parseInt(x, 16).toString(16)).join(':')}::/64`
}

interface KeyState {
  failures: number
  windowStart: number
  last: number
  lockouts: number
  lockedUntil: number
}

export interface LoginThrottle {
  /** ms left of a lockout of this (username, address) pair or of this address, 0 when neither is locked */
  lockedFor (username: string | undefined, address: string | undefined, now: number): number
  /** records a failed login; returns how long to hold back the refusal, in ms */
  failed (username: string | undefined, address: string | undefined, now: number): number
  /** a successful login clears the pair's record (not the address's: one good account must not launder a
   * guessing campaign from the same address; nor the username's: it counts other addresses' guesses) */
  succeeded (username: string | undefined, address: string | undefined): void
  sweep (now: number): void
  readonly size: number
}

/** exported for tests: the number of records kept before the oldest that lock nothing are dropped */
export const MAX_KEYS = 100_000
const pairKey = (username: string, address: string): string => `p:${address}\u0000${username}`

export function createLoginThrottle (cfg: LoginThrottleConfig): LoginThrottle {
  const states = new Map<string, KeyState>()

  /** counts a failure; `max` 0 never locks */
  const fail = (key: string, max: number, now: number): number => {
    let s = states.get(key)
    if (s === undefined) {
      if (states.size >= MAX_KEYS) sweep(now)
      // a flood of fresh keys must not grow memory without bound, nor wipe the lockouts that protect other
      // accounts: the oldest records that lock nothing go first
      if (states.size >= MAX_KEYS) evict(now)
      s = { failures: 0, windowStart: now, last: now, lockouts: 0, lockedUntil: 0 }
      states.set(key, s)
    }
    if (now - s.windowStart > cfg.windowMs) { s.failures = 0; s.windowStart = now }
    s.failures++
    s.last = now
    const n = s.failures
    if (max > 0 && s.failures >= max) {
      s.lockouts++
      s.lockedUntil = now + Math.min(cfg.lockoutMs * 2 ** Math.min(s.lockouts - 1, 30), cfg.maxLockoutMs)
      s.failures = 0
      s.windowStart = now
    }
    return n
  }

  const lockedFor = (key: string, now: number): number => {
    const s = states.get(key)
    return s === undefined ? 0 : Math.max(0, s.lockedUntil - now)
  }

  function evict (now: number): void {
    const target = Math.floor(MAX_KEYS * 0.9)
    for (const [key, s] of states) {
      if (states.size <= target) return
      if (s.lockedUntil <= now) states.delete(key)
    }
    // every record locks something: the oldest lockouts go, rather than no record being kept for new ones
    for (const key of states.keys()) {
      if (states.size <= target) return
      states.delete(key)
    }
  }

  function sweep (now: number): void {
    const idle = Math.max(cfg.windowMs, cfg.maxLockoutMs)
    for (const [key, s] of states) {
      if (s.lockedUntil <= now && now - s.last > idle) states.delete(key)
    }
  }

  return {
    get size () { return states.size },
    sweep,
    lockedFor (username, address, now) {
      if (address === undefined) return 0
      return Math.max(username === undefined ? 0 : lockedFor(pairKey(username, address), now), lockedFor(`a:${address}`, now))
    },
    failed (username, address, now) {
      const np = username === undefined || address === undefined ? 0 : fail(pairKey(username, address), cfg.maxFailuresPerUserAddress, now)
      const na = address === undefined ? 0 : fail(`a:${address}`, cfg.maxFailuresPerAddress, now)
      const nu = username === undefined ? 0 : fail(`u:${username}`, 0, now)
      const n = Math.max(np, na, nu)
      return cfg.delayMs === 0 ? 0 : Math.min(cfg.delayMs * 2 ** Math.min(n - 1, 20), cfg.maxDelayMs)
    },
    succeeded (username, address) {
      if (username !== undefined && address !== undefined) states.delete(pairKey(username, address))
    }
  }
}
