// Per-device sequence accounting (duplicates, gaps, late fills, producer restarts) in bounded memory.

/**
 * first: baseline for a device; next: highest+1; ahead: skipped some seqs (gaps);
 * late: filled a gap; duplicate: seen before; stale: too far behind the window to tell;
 * reset: an unknown run went backwards, so a new epoch starts.
 */
export type SeqOutcome = 'first' | 'next' | 'ahead' | 'late' | 'duplicate' | 'stale' | 'reset'

export interface SeqCounters {
  received: number
  unique: number
  duplicates: number
  /** Seqs below the highest seen that never arrived (a late arrival takes one off). */
  gaps: number
  resets: number
  stale: number
}

export interface DeviceSeqState extends SeqCounters {
  run: string | null
  highest: number
}

export interface SeqTotals extends SeqCounters {
  devices: number
}

/** Enough to carry a device over a restart: out-of-order arrivals after it still fill the right gaps. */
export interface DeviceSnapshot extends DeviceSeqState {
  /** Lowest seq of the current epoch. */
  floor: number
  /** Seqs still missing inside the window, ascending. */
  missing: number[]
}

export interface SeqTracker {
  record (deviceId: string, seq: number, run?: string): SeqOutcome
  device (deviceId: string): DeviceSeqState | undefined
  totals (): SeqTotals
  /** Positions, missing seqs and counters of every device, for persisting across restarts. */
  snapshot (): Record<string, DeviceSnapshot>
  restore (snapshot: Readonly<Record<string, DeviceSnapshot>>): void
}

interface Device extends SeqCounters {
  /** Runs seen in this epoch: a late message from the previous run is not a restart. */
  runs: string[]
  highest: number
  /** Lowest seq of this epoch: nothing below it is a gap until something below it arrives. */
  floor: number
  /** Ring bitmap of the seqs (highest - window, highest]; bit (seq % window) set = received. */
  bits: Uint32Array
}

const MAX_RUNS_PER_EPOCH = 8

export function createSeqTracker ({ windowSize = 4096 }: { windowSize?: number } = {}): SeqTracker {
  const window = Math.max(32, Math.ceil(windowSize / 32) * 32)
  const devices = new Map<string, Device>()

  const bit = (d: Device, seq: number): boolean => {
    const i = seq % window
    return ((d.bits[i >>> 5] ?? 0) & (1 << (i & 31))) !== 0
  }
  const setBit = (d: Device, seq: number, on: boolean): void => {
    const i = seq % window
    const w = i >>> 5
    const mask = 1 << (i & 31)
    d.bits[w] = on ? ((d.bits[w] ?? 0) | mask) : ((d.bits[w] ?? 0) & ~mask)
  }
  const startEpoch = (d: Device, seq: number, run: string | undefined): void => {
    d.runs = run === undefined ? [] : [run]
    d.highest = seq
    d.floor = seq
    d.bits.fill(0)
    setBit(d, seq, true)
  }
  const addRun = (d: Device, run: string): void => {
    d.runs.push(run)
    if (d.runs.length > MAX_RUNS_PER_EPOCH) d.runs.shift()
  }

  function record (deviceId: string, seq: number, run?: string): SeqOutcome {
    if (!Number.isSafeInteger(seq) || seq < 0) throw new RangeError(`seq must be a non-negative integer, got ${seq}`)
    let d = devices.get(deviceId)
    if (d === undefined) {
      d = { runs: [], highest: seq, floor: seq, bits: new Uint32Array(window / 32), received: 1, unique: 1, duplicates: 0, gaps: 0, resets: 0, stale: 0 }
      startEpoch(d, seq, run)
      devices.set(deviceId, d)
      return 'first'
    }
    d.received++
    if (run !== undefined && !d.runs.includes(run)) {
      // the producer persists seq across restarts, so only a new run that goes backwards starts over
      if (seq <= d.highest) {
        startEpoch(d, seq, run)
        d.resets++
        d.unique++
        return 'reset'
      }
      addRun(d, run)
    }
    if (seq > d.highest) {
      const skipped = seq - d.highest - 1
      if (skipped >= window - 1) d.bits.fill(0)
      else for (let s = d.highest + 1; s < seq; s++) setBit(d, s, false)
      setBit(d, seq, true)
      d.highest = seq
      d.unique++
      d.gaps += skipped
      return skipped === 0 ? 'next' : 'ahead'
    }
    if (d.highest - seq >= window) {
      d.stale++
      return 'stale'
    }
    if (seq < d.floor) {
      // earlier than the baseline: the epoch reaches further back, and anything between is missing
      d.gaps += d.floor - seq - 1
      d.floor = seq
      setBit(d, seq, true)
      d.unique++
      return 'late'
    }
    if (bit(d, seq)) {
      d.duplicates++
      return 'duplicate'
    }
    setBit(d, seq, true)
    d.unique++
    d.gaps--
    return 'late'
  }

  const view = (d: Device): DeviceSeqState => ({
    run: d.runs.at(-1) ?? null,
    highest: d.highest,
    received: d.received,
    unique: d.unique,
    duplicates: d.duplicates,
    gaps: d.gaps,
    resets: d.resets,
    stale: d.stale
  })

  return {
    record,
    device (deviceId) {
      const d = devices.get(deviceId)
      return d === undefined ? undefined : view(d)
    },
    totals () {
      const t: SeqTotals = { devices: devices.size, received: 0, unique: 0, duplicates: 0, gaps: 0, resets: 0, stale: 0 }
      for (const d of devices.values()) {
        t.received += d.received
        t.unique += d.unique
        t.duplicates += d.duplicates
        t.gaps += d.gaps
        t.resets += d.resets
        t.stale += d.stale
      }
      return t
    },
    snapshot () {
      const out: Record<string, DeviceSnapshot> = {}
      for (const [id, d] of devices) {
        const missing: number[] = []
        for (let seq = Math.max(d.floor, d.highest - window + 1); seq < d.highest; seq++) {
          if (!bit(d, seq)) missing.push(seq)
        }
        out[id] = { ...view(d), floor: d.floor, missing }
      }
      return out
    },
    restore (snapshot) {
      for (const [id, s] of Object.entries(snapshot)) {
        const d: Device = {
          runs: s.run === null ? [] : [s.run],
          highest: s.highest,
          floor: s.floor,
          bits: new Uint32Array(window / 32),
          received: s.received,
          unique: s.unique,
          duplicates: s.duplicates,
          gaps: s.gaps,
          resets: s.resets,
          stale: s.stale
        }
        for (let seq = Math.max(s.floor, s.highest - window + 1); seq <= s.highest; seq++) setBit(d, seq, true)
        for (const seq of s.missing) if (seq >= s.floor && seq < s.highest && s.highest - seq < window) setBit(d, seq, false)
        devices.set(id, d)
      }
    }
  }
}
