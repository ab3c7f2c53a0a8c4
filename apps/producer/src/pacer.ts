// Turns a (possibly fractional, possibly high) message rate into how many messages are due per timer tick.

export interface Pacer {
  /** How often to call due(); never below MIN_TICK_MS, so high rates send several per tick. */
  readonly tickMs: number
  /** Messages due at `now` (ms, monotonic) since the last call. */
  due (now: number): number
  /** Starts counting afresh, e.g. after being offline: what was not sent then is not owed later. */
  reset (now: number): void
}

export const MIN_TICK_MS = 10
// timers fire a little early or late; this much slack keeps a 1-per-tick rate from skipping a tick
const EARLY_SLACK = 0.05

export function createPacer (ratePerSecond: number, now: number): Pacer {
  const tickMs = Math.max(1000 / ratePerSecond, MIN_TICK_MS)
  // after a stall (blocked event loop, suspended laptop) catch up at most one second's worth
  const maxCredit = Math.max(2, ratePerSecond)
  let credit = 0
  let last = now
  return {
    tickMs,
    due (at) {
      credit = Math.min(credit + ((at - last) * ratePerSecond) / 1000, maxCredit)
      last = at
      let n = 0
      while (credit > 1 - EARLY_SLACK) {
        credit -= 1
        n++
      }
      return n
    },
    reset (at) {
      credit = 0
      last = at
    }
  }
}
