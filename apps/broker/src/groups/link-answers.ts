// Both ends of an answered batch of consumer-group hand-overs (cluster-link.ts): the sender waits for the
// receiver's answer and takes the batch back when none comes in time; the receiver stores the copies, claims the
// batch and answers, or drops them when the sender was first (handover-claim.ts).
import { MAX_BATCH_AGE_MS, TAKEN_BACK, type HandoverClaims } from './handover-claim.js'
import type { BatchHeader, Handover } from './link-batch.js'
import type { HeldEntries } from './held-copies.js'

/** what became of a hand-over: the receiver has it, refused it (its member is not there), never answered and
 * the sender took it back (another member of that process cannot have it either), or was never sent: the receiving
 * process no longer listens on Redis (killed), and none of its members can have it */
export type HandoverResult = 'taken' | 'refused' | 'lost' | 'gone'
export interface Result { resolve: (r: HandoverResult) => void, reject: (err: unknown) => void }
/** what a receiver did with a batch's QoS 1/2 hand-overs: per hand-over, whether it took it; `held`: the copies
 * it keeps for clean members in Redis, written by its claim (held-copies.ts) */
export interface Taken { taken: boolean[], held: HeldEntries, pending: Array<readonly [string, string]> }
/** a receiver's answer: `r`, the indexes of the hand-overs it refused */
export interface Answer { id: string, r: number[] }

export interface SenderAnswers {
  /** batch `id` was sent to `broker`: `results`, one per hand-over, settle with its answer, or after `timeoutMs` */
  expect (id: string, results: readonly Result[], broker: string): void
  answered (a: Answer): void
  /** the batch never left (its PUBLISH failed) */
  cancel (id: string): void
  /** shutting down: every batch still waited on is taken back now */
  takeBackAll (): Promise<void>
  /** `broker` is dead (dead-watch.ts): the batches sent to it are taken back now, not after the time-out */
  takeBackFrom (broker: string): Promise<void>
  /** the processes batches are waited on from */
  awaited (): Set<string>
}

export function createSenderAnswers (claims: HandoverClaims, timeoutMs: number, onError: (err: unknown) => void): SenderAnswers {
  const awaiting = new Map<string, { results: readonly Result[], timer: NodeJS.Timeout, broker: string }>()
  const settle = (results: readonly Result[], refused: ReadonlySet<number>): void => {
    results.forEach((r, i) => r.resolve(refused.has(i) ? 'refused' : 'taken'))
  }
  const take = (id: string): { results: readonly Result[] } | undefined => {
    const w = awaiting.get(id)
    if (w === undefined) return undefined
    awaiting.delete(id)
    clearTimeout(w.timer)
    return w
  }
  /** no answer in time: the batch is the sender's again, unless the receiver claimed it meanwhile */
  const takeBack = async (id: string): Promise<void> => {
    const w = take(id)
    if (w === undefined) return
    try {
      const theirs = await claims.claim(id, TAKEN_BACK)
      // taken back for it by a process replaying a member's session (pending-copies.ts), or by itself
      if (theirs === null || theirs === TAKEN_BACK) for (const r of w.results) r.resolve('lost')
      else settle(w.results, new Set(JSON.parse(theirs) as number[]))
    } catch (err) {
      for (const r of w.results) r.reject(err)
    }
  }
  return {
    expect (id, results, broker) {
      const timer = setTimeout(() => { takeBack(id).catch(onError) }, timeoutMs)
      timer.unref()
      awaiting.set(id, { results, timer, broker })
    },
    answered (a) {
      const w = take(a.id)
      if (w === undefined) return
      settle(w.results, new Set(a.r))
      // neither side claims it again: the claim need not stay in Redis
      claims.forget(a.id)
    },
    cancel (id) { take(id) },
    async takeBackAll () {
      await Promise.all([...awaiting.keys()].map(async (id) => { await takeBack(id) }))
    },
    awaited: () => new Set([...awaiting.values()].map((w) => w.broker)),
    async takeBackFrom (broker) {
      await Promise.all([...awaiting].filter(([, w]) => w.broker === broker).map(async ([id]) => { await takeBack(id) }))
    }
  }
}

export interface ReceiverDeps {
  /** claims the batch; if first, answers `to` in the same step (handover-claim.ts claimAndPublish) */
  claimAndAnswer: (to: string, a: Answer, value: string, taken: Taken) => Promise<string | null>
  /** stores the QoS 1/2 hand-overs; per hand-over, whether it was taken; `gate`: whether the claim stood */
  onHandover: (items: readonly Handover[], gate: Promise<boolean>, batch: string) => Promise<Taken>
  /** a QoS 0 hand-over: nothing to wait for, handled as an unanswered one */
  onForward: (f: Handover) => void
  onTakenBack: (copies: number) => void
}

export interface ReceiverAnswers {
  receive (header: BatchHeader, items: readonly Handover[]): Promise<void>
  /** resolves once the batches being answered are (or after `ms`) */
  settled (ms: number): Promise<void>
}

export function createReceiverAnswers (deps: ReceiverDeps): ReceiverAnswers {
  const answering = new Set<Promise<void>>()
  const receive = async (header: BatchHeader, items: readonly Handover[]): Promise<void> => {
    const held: number[] = []
    items.forEach((f, i) => { if (f.copy.qos === 0) deps.onForward(f); else held.push(i) })
    if (held.length === 0) return
    // its sender decided long ago (this process was stopped): it took the batch back, or it is gone with its publishers
    if (Date.now() - header.at > MAX_BATCH_AGE_MS) { deps.onTakenBack(held.length); return }
    let decide: (won: boolean) => void = () => {}
    const gate = new Promise<boolean>((resolve) => { decide = resolve })
    try {
      const result = await deps.onHandover(held.map((i) => items[i] as Handover), gate, header.id)
      const taken = result.taken
      const refused = held.filter((_, j) => taken[j] !== true)
      // stored too late (stopped meanwhile): past the age up to which a claim is sure to be seen, not claimed
      if (Date.now() - header.at > MAX_BATCH_AGE_MS) { decide(false); deps.onTakenBack(held.length - refused.length); return }
      const first = await deps.claimAndAnswer(header.from, { id: header.id, r: refused }, JSON.stringify(refused), result)
      decide(first === null)
      if (first !== null) deps.onTakenBack(held.length - refused.length)
    } catch (err) {
      decide(false)
      throw err
    }
  }
  return {
    async receive (header, items) {
      const p = receive(header, items)
      answering.add(p)
      try { await p } finally { answering.delete(p) }
    },
    async settled (ms) {
      await Promise.race([Promise.allSettled([...answering]), new Promise((resolve) => setTimeout(resolve, ms).unref())])
    }
  }
}
