// The summary file: the last summary plus per-device positions, replaced atomically so readers never see half of it.
import { readFileSync } from 'node:fs'
import { isRecord, writeFileAtomic } from '@warden/common'
import type { DeviceSnapshot } from './seq-tracker.js'
import type { SavedStats, Summary } from './stats.js'

export type SummaryFileContent = Summary & { perDevice: Record<string, DeviceSnapshot>, writtenAt: string }

export async function writeSummaryFile (path: string, content: SummaryFileContent): Promise<void> {
  // a report rewritten every interval: atomic so readers never see half of it, not fsynced
  await writeFileAtomic(path, JSON.stringify(content, null, 2) + '\n')
}

/** Reads what a previous run saved; undefined when there is no file, throws when it is unusable. */
export function readSavedStats (path: string): SavedStats | undefined {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  const data: unknown = JSON.parse(text)
  if (!isRecord(data) || !isRecord(data.perDevice)) throw new Error(`${path} has no perDevice section`)
  const perDevice: Record<string, DeviceSnapshot> = {}
  for (const [id, d] of Object.entries(data.perDevice)) {
    if (!isDeviceState(d)) throw new Error(`${path}: perDevice.${id} is not a device state`)
    perDevice[id] = d
  }
  return { received: count(data.received), malformed: count(data.malformed), qos2Duplicates: count(data.qos2Duplicates), perDevice }
}

const COUNTERS = ['highest', 'floor', 'received', 'unique', 'duplicates', 'gaps', 'resets', 'stale'] as const

function isDeviceState (value: unknown): value is DeviceSnapshot {
  return isRecord(value) &&
    (value.run === null || typeof value.run === 'string') &&
    COUNTERS.every((k) => isCount(value[k])) &&
    Array.isArray(value.missing) && value.missing.every(isCount)
}

function isCount (value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0
}

function count (value: unknown): number {
  return isCount(value) ? value : 0
}
