// Reconnect delays: doubling from minMs up to maxMs, with jitter so many clients do not retry in step.

export interface Backoff {
  /** The delay before the next attempt; each call doubles the base. */
  next (): number
  /** After a successful connection, start again from minMs. */
  reset (): void
}

export function createBackoff ({ minMs, maxMs }: { minMs: number, maxMs: number }, random: () => number = Math.random): Backoff {
  let attempt = 0
  return {
    next () {
      const base = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30))
      attempt++
      return Math.round(base * (0.8 + random() * 0.4))
    },
    reset () { attempt = 0 }
  }
}
