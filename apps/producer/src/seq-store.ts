// Last issued sequence number per device, kept in a JSON file so numbering survives process restarts.
import { readFile } from 'node:fs/promises'
import { WardenError, writeFileAtomic } from '@warden/common'

export type SeqState = Record<string, number>

export interface SeqStore {
  /** Last sequence number issued for the device; 0 when it has none. */
  last (username: string): number
  /** Notes that `seq` was issued; written to disk by the next flush. */
  record (username: string, seq: number): void
  flush (): Promise<void>
  /** Stops the periodic flush and writes the final state. */
  close (): Promise<void>
}

export interface SeqStoreOptions {
  file: string
  /** 0 disables periodic flushing; state is then written only by flush() and close(). */
  flushIntervalMs?: number
  onError?: (err: unknown) => void
}

export async function readSeqState (file: string): Promise<SeqState> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw new WardenError('WARDEN_ERR_PERSISTENCE', `cannot read sequence state ${file}: ${(err as Error).message}`, { cause: err })
  }
  const fail = (why: string, cause?: unknown): never => {
    // starting over silently would re-issue numbers a consumer already saw, so refuse instead
    throw new WardenError('WARDEN_ERR_PERSISTENCE', `sequence state ${file} ${why}; fix it or delete it to restart numbering at 1`, { cause })
  }
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (err) {
    return fail('is not valid JSON', err)
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return fail('must be a JSON object')
  const state: SeqState = {}
  for (const [username, seq] of Object.entries(data)) {
    if (!Number.isSafeInteger(seq) || (seq as number) < 0) return fail(`has a bad value for ${JSON.stringify(username)}`)
    state[username] = seq as number
  }
  return state
}

/**
 * Replaced atomically and durably: a crash or power loss leaves the old state or the new, never half, and a
 * sequence number once saved never goes back (the consumer would count the repeats as duplicates).
 */
export async function writeSeqState (file: string, state: SeqState): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(state, null, 2)}\n`, { durable: true })
}

export async function openSeqStore ({ file, flushIntervalMs = 1000, onError }: SeqStoreOptions): Promise<SeqStore> {
  const state = await readSeqState(file)
  let dirty = false
  // writes run one after another so an older state can never overwrite a newer one
  let writing: Promise<void> = Promise.resolve()

  const flush = (): Promise<void> => {
    if (!dirty) return writing
    dirty = false
    const snapshot = { ...state }
    // a failed earlier write must not stop this one
    writing = writing.catch(() => {}).then(() => writeSeqState(file, snapshot)).catch((err: unknown) => {
      dirty = true
      throw err
    })
    return writing
  }

  const timer = flushIntervalMs > 0
    ? setInterval(() => { flush().catch((err: unknown) => onError?.(err)) }, flushIntervalMs)
    : undefined
  timer?.unref()

  return {
    last: (username) => state[username] ?? 0,
    record (username, seq) {
      state[username] = seq
      dirty = true
    },
    flush,
    async close () {
      clearInterval(timer)
      await flush()
    }
  }
}
