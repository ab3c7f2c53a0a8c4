// Reconnect delays: doubling from minMs up to maxMs, with jitter so many clients do not retry in step.

export interface BackoffOptions {
  readonly minMs: number
  readonly maxMs: number
  /** Each delay is spread uniformly over ±jitter of itself: 0.2 (±20 %) by default, 0 for exact delays. */
  readonly jitter?: number
}

export interface Backoff {
  /** The delay before the next attempt; it stays the same until next(), fail() or reset(). */
  readonly current: number
  /** Takes the delay to wait now; the one after it doubles (for a loop that waits, then retries). */
  next (): number
  /** Records a failed attempt and returns the new, doubled delay (for a client that reads its delay ahead). */
  fail (): number
  /** After a successful connection, starts again from minMs and returns that delay. */
  reset (): number
}

export function createBackoff ({ minMs, maxMs, jitter = 0.2 }: BackoffOptions, random: () => number = Math.random): Backoff {
  let attempt = 0
  const draw = (): number => {
    const base = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30))
    return jitter === 0 ? base : Math.round(base * (1 - jitter + random() * 2 * jitter))
  }
  let current = draw()
  const fail = (): number => {
    attempt++
    current = draw()
    return current
  }
  return {
    get current () { return current },
    next () {
      const delay = current
      fail()
      return delay
    },
    fail,
    reset () {
      attempt = 0
      current = draw()
      return current
    }
  }
}
