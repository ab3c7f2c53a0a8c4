// Keeps a flood of refusals (a connection storm, a publisher over its rate) from turning into a flood of log
// lines and $SYS events: past a burst, records of one kind and reason are counted but not each written;
// the next one written says how many were left out.
import { TokenBucket, type Rate } from './token-bucket.js'

export const AUDIT_RATE: Rate = { perSecond: 20, burst: 100 }

export interface AuditSampler {
  /** null: leave this record out; otherwise how many of its key were left out since the last one written */
  admit (key: string, now: number): number | null
}

export function createAuditSampler (rate: Rate = AUDIT_RATE): AuditSampler {
  const buckets = new Map<string, { bucket: TokenBucket, suppressed: number }>()
  return {
    admit (key, now) {
      let s = buckets.get(key)
      if (s === undefined) {
        s = { bucket: new TokenBucket(rate, now), suppressed: 0 }
        buckets.set(key, s) // keys are kind:reason pairs: a few dozen at most
      }
      if (!s.bucket.tryTake(now)) {
        s.suppressed++
        return null
      }
      const n = s.suppressed
      s.suppressed = 0
      return n
    }
  }
}
