// Reconnect delays that double after each failed attempt, capped, and start over once connected.

export interface Backoff {
  /** The delay to wait before the next attempt. */
  readonly current: number
  /** Records a failed attempt and returns the new delay. */
  fail (): number
  /** Records a successful connection and returns the base delay. */
  reset (): number
}

export function createBackoff (baseMs: number, maxMs: number): Backoff {
  let current = Math.min(baseMs, maxMs)
  return {
    get current () { return current },
    fail () {
      current = Math.min(current * 2, maxMs)
      return current
    },
    reset () {
      current = Math.min(baseMs, maxMs)
      return current
    }
  }
}
