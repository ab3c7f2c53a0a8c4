// Token buckets: one per client for publish rates, one per source address for connection rates.

export interface Rate {
  /** tokens added per second; 0 disables the limit */
  readonly perSecond: number
  /** bucket size: how many may pass at once after a quiet spell */
  readonly burst: number
}

export class TokenBucket {
  private tokens: number
  private last: number

  constructor (private readonly rate: Rate, now: number) {
    this.tokens = rate.burst
    this.last = now
  }

  private refill (now: number): void {
    const elapsed = now - this.last
    if (elapsed > 0) {
      this.tokens = Math.min(this.rate.burst, this.tokens + elapsed * this.rate.perSecond / 1000)
      this.last = now
    }
  }

  /** takes a token if one is there */
  tryTake (now: number): boolean {
    this.refill(now)
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }

  /** takes a token even when empty (going into debt); returns how long the caller must wait, in ms */
  takeWithDelay (now: number): number {
    this.refill(now)
    this.tokens -= 1
    return this.tokens >= 0 ? 0 : Math.ceil(-this.tokens * 1000 / this.rate.perSecond)
  }

  /** full and idle: forgetting it changes nothing */
  isFull (now: number): boolean {
    this.refill(now)
    return this.tokens >= this.rate.burst
  }
}

/**
 * Buckets by key (e.g. source address). Full buckets are swept, and the table is capped, so that a flood
 * from many addresses cannot grow it without bound.
 */
export class KeyedBuckets {
  private readonly buckets = new Map<string, TokenBucket>()

  constructor (private readonly rate: Rate, private readonly maxKeys = 100_000) {}

  get size (): number { return this.buckets.size }

  tryTake (key: string, now: number): boolean {
    if (this.rate.perSecond === 0) return true
    let b = this.buckets.get(key)
    if (b === undefined) {
      if (this.buckets.size >= this.maxKeys) this.sweep(now)
      // still full of busy keys: start afresh rather than grow (a flood from that many addresses is
      // bounded by maxConnections anyway)
      if (this.buckets.size >= this.maxKeys) this.buckets.clear()
      b = new TokenBucket(this.rate, now)
      this.buckets.set(key, b)
    }
    return b.tryTake(now)
  }

  sweep (now: number): void {
    for (const [key, b] of this.buckets) if (b.isFull(now)) this.buckets.delete(key)
  }
}
