// What every password login (MQTT CONNECT, HTTP API) goes through before and after its verification:
// lockouts of a (username, address) pair or an address; a bound on logins in flight per pair and per
// address, refused before any work so that parallel guesses cannot outrun the failure count; a fair
// round-robin share of verification per address; the delay that holds back each refusal (the login stays
// in flight meanwhile). A login already verified moments ago (verified-credentials cache) skips the queue, and
// the same login (same username and password, from the same address) arriving while one is in flight waits
// for that one's answer instead of taking another slot: an honest client's parallel requests, or a device
// retrying, are one verification and one count, and repeating a guess in parallel gains nothing.
import { availableParallelism } from 'node:os'
import type { LoginThrottleConfig } from '../config/hardening-schema.js'
import { createFairQueue } from './fair-queue.js'
import { createLoginThrottle, throttleAddress } from './login-throttle.js'

export interface LoginAttempt {
  readonly username: string
  /** normalized source address; undefined (no socket address) shares one queue */
  readonly address: string | undefined
  /** the requester has gone (socket closed): skip the verification */
  readonly cancelled?: () => boolean
  /** the password was verified moments ago: answer now, without waiting for a turn */
  readonly cached?: boolean
  /** a keyed hash of (username, password) (UserDirectory.loginTag): identical attempts in flight are joined */
  readonly tag?: string
}

export type GateRefusal = { readonly reason: 'login-throttled' | 'login-pending', readonly detail: string, readonly retryAfterMs: number }

export type GateOutcome<T> =
  | { readonly kind: 'refused', readonly refusal: GateRefusal }
  | { readonly kind: 'cancelled' }
  | { readonly kind: 'verified', readonly value: T }

export interface LoginGate {
  /** runs `verify` when the attempt's turn comes; `failed(value)` says whether it was a wrong password */
  attempt<T> (a: LoginAttempt, verify: () => Promise<T>, failed: (value: T) => boolean): Promise<GateOutcome<T>>
  readonly stats: { readonly waiting: number, readonly verifying: number }
}

const PENDING_RETRY_MS = 1000
const SWEEP_MS = 60_000
/** how many logins per address slot may wait for one (maxPendingPerAddress × this), before refusals */
const WAITING_ROOM = 8
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export function createLoginGate (cfg: LoginThrottleConfig): LoginGate {
  const throttle = createLoginThrottle(cfg)
  // scrypt runs on libuv's threads: with every core verifying, the event loop that reads CONNECTs and writes
  // CONNACKs starves, and every login waits, honest ones included; so by default one core stays free
  const concurrency = cfg.verifyConcurrency > 0 ? cfg.verifyConcurrency : Math.max(1, availableParallelism() - 1)
  const queue = createFairQueue({ concurrency, perUser: cfg.maxVerifyingPerUser })
  const pending = new Map<string, number>()
  const inFlight = new Map<string, Promise<GateOutcome<unknown>>>()
  /** per address: logins waiting for one of its slots, in arrival order */
  const waiters = new Map<string, Array<() => void>>()
  // swept as logins come (no timer to close): an idle gate holds nothing worth sweeping
  let swept = Date.now()
  const add = (key: string, d: number): number => {
    const n = (pending.get(key) ?? 0) + d
    if (n <= 0) pending.delete(key); else pending.set(key, n)
    return n
  }

  return {
    get stats () { return { waiting: queue.waiting, verifying: queue.running } },
    async attempt<T> (a: LoginAttempt, verify: () => Promise<T>, failed: (value: T) => boolean): Promise<GateOutcome<T>> {
      if (a.tag === undefined) return await attemptOnce(a, verify, failed)
      const key = `${a.address ?? ''}\u0000${a.tag}`
      const joined = inFlight.get(key) as Promise<GateOutcome<T>> | undefined
      if (joined !== undefined) {
        const outcome = await joined
        // proven right a moment ago: this requester's own verification is a cache hit, run outside the queue
        // (it sets up this connection's own state)
        if (outcome.kind === 'verified' && !failed(outcome.value)) return { kind: 'verified', value: await verify() }
        // the first requester went away before its turn: this one still wants an answer
        if (outcome.kind !== 'cancelled' || a.cancelled?.() === true) return outcome
      }
      const own = attemptOnce(a, verify, failed)
      inFlight.set(key, own)
      try {
        return await own
      } finally {
        if (inFlight.get(key) === own) inFlight.delete(key)
      }
    }
  }

  async function attemptOnce<T> (given: LoginAttempt, verify: () => Promise<T>, failed: (value: T) => boolean): Promise<GateOutcome<T>> {
    const a = { ...given, address: throttleAddress(given.address) }
    const now = Date.now()
    if (now - swept > SWEEP_MS) { throttle.sweep(now); swept = now }
    const locked = throttle.lockedFor(a.username, a.address, now)
    if (locked > 0) {
      const detail = `too many failed logins: locked for ${Math.ceil(locked / 1000)} s`
      return { kind: 'refused', refusal: { reason: 'login-throttled', detail, retryAfterMs: locked } }
    }
    const address = a.address ?? ''
    const pairKey = `p:${address}\u0000${a.username}`
    const addressKey = `a:${address}`
    const pairFull = (): boolean => (pending.get(pairKey) ?? 0) >= cfg.maxPendingPerUserAddress
    const refusePending = (which: string): GateOutcome<T> =>
      ({ kind: 'refused', refusal: { reason: 'login-pending', detail: `too many logins in progress: ${which}`, retryAfterMs: PENDING_RETRY_MS } })
    // a password verified moments ago is not a guess (guessing it right is the end of guessing): it costs an
    // HMAC, and an address's slots filled by someone else's guesses must not keep its honest devices out
    if (a.cached !== true && pairFull()) return refusePending(`${cfg.maxPendingPerUserAddress} for this user from this address`)
    if (a.cached !== true && ((pending.get(addressKey) ?? 0) >= cfg.maxPendingPerAddress || waiters.has(addressKey))) {
      // past the address's share, a login waits, unverified, for one of its slots (the devices behind a NAT
      // booting together): only that many are ever in flight, each checked against the lockouts when its
      // turn comes, so guesses still cannot outrun the failure count; past the waiting room it is refused
      const waiting = waiters.get(addressKey) ?? []
      if (waiting.length >= cfg.maxPendingPerAddress * WAITING_ROOM) return refusePending(`${cfg.maxPendingPerAddress} from this address, and as many waiting`)
      waiters.set(addressKey, waiting)
      // woken with the slot of the login that finished
      await new Promise<void>((resolve) => waiting.push(resolve))
      const lockedNow = throttle.lockedFor(a.username, a.address, Date.now())
      if (a.cancelled?.() === true || lockedNow > 0 || pairFull()) {
        release(addressKey)
        if (lockedNow > 0) {
          const detail = `too many failed logins: locked for ${Math.ceil(lockedNow / 1000)} s`
          return { kind: 'refused', refusal: { reason: 'login-throttled', detail, retryAfterMs: lockedNow } }
        }
        return a.cancelled?.() === true ? { kind: 'cancelled' } : refusePending(`${cfg.maxPendingPerUserAddress} for this user from this address`)
      }
    } else {
      add(addressKey, 1)
    }
    add(pairKey, 1)
    try {
      const value = a.cached === true ? await verify() : await turn(a, address, verify)
      if (value === CANCELLED) return { kind: 'cancelled' }
      if (failed(value)) {
        const delay = throttle.failed(a.username, a.address, Date.now())
        if (delay > 0) await pause(delay)
      } else {
        throttle.succeeded(a.username, a.address)
      }
      return { kind: 'verified', value }
    } finally {
      add(pairKey, -1)
      release(addressKey)
    }
  }

  /** a login of this address is done: its slot goes to the first login waiting for one, or is freed */
  function release (addressKey: string): void {
    const waiting = waiters.get(addressKey)
    const next = waiting?.shift()
    if (waiting !== undefined && waiting.length === 0) waiters.delete(addressKey)
    if (next !== undefined) next()
    else add(addressKey, -1)
  }

  function turn<T> (a: LoginAttempt, address: string, verify: () => Promise<T>): Promise<T | typeof CANCELLED> {
    return new Promise((resolve, reject) => {
      queue.push({
        address,
        username: a.username,
        cancelled: a.cancelled ?? (() => false),
        skipped: () => resolve(CANCELLED),
        run: () => verify().then(resolve, (err: unknown) => { reject(err) })
      })
    })
  }
}

const CANCELLED = Symbol('cancelled')
