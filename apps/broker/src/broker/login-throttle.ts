// Failed-login throttling against password guessing: a growing delay before each refusal, and a lockout
// (doubling on each repeat) once a username or a source address has failed too often within a window.
import type { LoginThrottleConfig } from '../config/hardening-schema.js'

interface KeyState {
  failures: number
  windowStart: number
  last: number
  lockouts: number
  lockedUntil: number
}

export interface LoginThrottle {
  /** ms left of a lockout of this username or address, 0 when neither is locked */
  lockedFor (username: string | undefined, address: string | undefined, now: number): number
  /** records a failed login; returns how long to hold back the refusal, in ms */
  failed (username: string | undefined, address: string | undefined, now: number): number
  /** a successful login clears the username's record (not the address's: one good account must not
   * launder a guessing campaign from the same address) */
  succeeded (username: string | undefined): void
  sweep (now: number): void
  readonly size: number
}

const MAX_KEYS = 100_000

export function createLoginThrottle (cfg: LoginThrottleConfig): LoginThrottle {
  const states = new Map<string, KeyState>()

  const fail = (key: string, max: number, now: number): number => {
    let s = states.get(key)
    if (s === undefined) {
      if (states.size >= MAX_KEYS) sweep(now)
      if (states.size >= MAX_KEYS) states.clear()
      s = { failures: 0, windowStart: now, last: now, lockouts: 0, lockedUntil: 0 }
      states.set(key, s)
    }
    if (now - s.windowStart > cfg.windowMs) { s.failures = 0; s.windowStart = now }
    s.failures++
    s.last = now
    const n = s.failures
    if (max > 0 && s.failures >= max) {
      s.lockouts++
      s.lockedUntil = now + Math.min(cfg.lockoutMs * 2 ** (s.lockouts - 1), cfg.maxLockoutMs)
      s.failures = 0
      s.windowStart = now
    }
    return n
  }

  const lockedFor = (key: string, now: number): number => {
    const s = states.get(key)
    return s === undefined ? 0 : Math.max(0, s.lockedUntil - now)
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
      return Math.max(
        username === undefined ? 0 : lockedFor(`u:${username}`, now),
        address === undefined ? 0 : lockedFor(`a:${address}`, now))
    },
    failed (username, address, now) {
      const nu = username === undefined ? 0 : fail(`u:${username}`, cfg.maxFailuresPerUser, now)
      const na = address === undefined ? 0 : fail(`a:${address}`, cfg.maxFailuresPerAddress, now)
      const n = Math.max(nu, na)
      return cfg.delayMs === 0 ? 0 : Math.min(cfg.delayMs * 2 ** Math.min(n - 1, 20), cfg.maxDelayMs)
    },
    succeeded (username) {
      if (username !== undefined) states.delete(`u:${username}`)
    }
  }
}
