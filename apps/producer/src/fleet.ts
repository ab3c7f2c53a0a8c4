// A fleet of simulated devices sharing one run id, one sequence state file, and one periodic summary line.
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import type { Logger } from '@warden/common'
import type { ProducerConfig } from './config.js'
import { createDevice, type Device, type DeviceStats } from './device.js'
import { openSeqStore } from './seq-store.js'

export const SEQ_STATE_FILE = 'seq-state.json'

export interface FleetOptions {
  /** Overrides the random run id, e.g. for tests. */
  run?: string
}

export interface FleetStats {
  run: string
  published: number
  acked: number
  failed: number
  connected: number
  perDevice: Record<string, Omit<DeviceStats, 'username'>>
}

export interface Fleet {
  readonly run: string
  readonly devices: readonly Device[]
  stats (): FleetStats
  close (): Promise<void>
}

export async function createFleet (config: ProducerConfig, logger: Logger, options: FleetOptions = {}): Promise<Fleet> {
  const run = options.run ?? randomBytes(6).toString('hex')
  const store = await openSeqStore({
    file: join(config.dataDir, SEQ_STATE_FILE),
    flushIntervalMs: config.stateFlushIntervalMs,
    onError: (err) => logger.error({ err }, 'cannot save sequence state')
  })
  const devices = config.devices.map(({ username, password }) => createDevice({
    url: config.brokerUrl,
    username,
    password,
    run,
    qos: config.qos,
    rate: config.rate,
    lastSeq: store.last(username),
    onSeq: (seq) => store.record(username, seq),
    reconnectPeriodMs: config.reconnectPeriodMs,
    maxReconnectPeriodMs: config.maxReconnectPeriodMs,
    closeTimeoutMs: config.closeTimeoutMs,
    logger
  }))

  const stats = (): FleetStats => {
    const all = devices.map((d) => d.stats())
    const sum = (key: 'published' | 'acked' | 'failed'): number => all.reduce((n, s) => n + s[key], 0)
    const perDevice = Object.fromEntries(all.map(({ username, ...rest }) => [username, rest]))
    return { run, published: sum('published'), acked: sum('acked'), failed: sum('failed'), connected: all.filter((s) => s.connected).length, perDevice }
  }

  for (const d of devices) d.start()
  logger.info({ run, devices: devices.length, url: withoutCredentials(config.brokerUrl), rate: config.rate, qos: config.qos }, 'fleet started')
  const summary = config.summaryIntervalMs > 0
    ? setInterval(() => logger.info(stats(), 'summary'), config.summaryIntervalMs)
    : undefined
  summary?.unref()

  let closing: Promise<void> | undefined
  const close = async (): Promise<void> => {
    clearInterval(summary)
    await Promise.all(devices.map((d) => d.close()))
    await store.close()
    logger.info(stats(), 'fleet stopped')
  }
  return {
    run,
    devices,
    stats,
    close: () => (closing ??= close())
  }
}

function withoutCredentials (url: string): string {
  const u = new URL(url)
  u.username = ''
  u.password = ''
  return u.toString()
}
