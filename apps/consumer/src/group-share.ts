// A group member's share of the stream: since its counters started (cumulative) and over the last summary window.
import type { DeviceSnapshot, SeqOutcome } from './seq-tracker.js'

/** A group member's part of the stream: the device messages it got among the sequence numbers it saw go by. */
export interface GroupShare {
  /** distinct device messages this member received */
  unique: number
  /** sequence numbers spanned, per device from the lowest to the highest it received */
  seqSpan: number
  /** unique / seqSpan: about 1/N with N members (0 when nothing went by) */
  ratio: number
}

const shareFrom = (unique: number, seqSpan: number): GroupShare =>
  ({ unique, seqSpan, ratio: seqSpan === 0 ? 0 : Math.round(unique / seqSpan * 1000) / 1000 })

/** Since the counters started (carried over restarts with `resume`): slow to follow a change of membership. */
export function cumulativeShare (devices: Record<string, DeviceSnapshot>): GroupShare {
  let unique = 0
  let seqSpan = 0
  for (const d of Object.values(devices)) {
    unique += d.unique
    seqSpan += d.highest - d.floor + 1
  }
  return shareFrom(unique, seqSpan)
}

export interface ShareWindow {
  /** a device message and what the sequence tracker made of it */
  observe (deviceId: string, seq: number, outcome: SeqOutcome): void
  /** the share since the last roll (or the start of this process), and a new window from here */
  roll (): GroupShare
}

/**
 * Per device, the sequence numbers from the highest this member had received when the window began (or, for a
 * device new to this process, the first it received, which is not counted) up to the highest it has received
 * now, and the messages it got among them. A window's span thus runs from one of its messages to another, as
 * its gaps between messages do, so the ratio is about 1/N from the first window after a change of membership.
 */
export function createShareWindow (): ShareWindow {
  const devices = new Map<string, { base: number, highest: number, got: number }>()
  // what a device's producer restart (a new epoch) closed of its span in this window
  let doneGot = 0
  let doneSpan = 0

  return {
    observe (deviceId, seq, outcome) {
      const d = devices.get(deviceId)
      if (d === undefined) {
        // a late or repeated message tells nothing of where the sequence is now
        if (outcome === 'first' || outcome === 'next' || outcome === 'ahead' || outcome === 'reset') devices.set(deviceId, { base: seq, highest: seq, got: 0 })
        return
      }
      if (outcome === 'next' || outcome === 'ahead') {
        d.highest = seq
        d.got++
      } else if (outcome === 'late') {
        if (seq > d.base) d.got++
      } else if (outcome === 'reset') {
        doneGot += d.got
        doneSpan += d.highest - d.base
        devices.set(deviceId, { base: seq, highest: seq, got: 0 })
      }
    },
    roll () {
      let got = doneGot
      let span = doneSpan
      for (const d of devices.values()) {
        got += d.got
        span += d.highest - d.base
        d.base = d.highest
        d.got = 0
      }
      doneGot = 0
      doneSpan = 0
      return shareFrom(got, span)
    }
  }
}
