// The reference consumer: a durable subscriber that records every message and counts loss, duplicates and latency.
import { EventEmitter } from 'node:events'
import type { Writable } from 'node:stream'
import type { Logger } from '@warden/common'
import type { ConsumerConfig } from './config.js'
import { parseMessage, type MessageRecord } from './message-record.js'
import type { SeqOutcome, DeviceSeqState } from './seq-tracker.js'
import { openSession } from './session.js'
import { createMessageSink } from './sink.js'
import { createStatsBook, type ConsumerTotals, type Summary } from './stats.js'
import { readSavedStats, writeSummaryFile } from './summary-file.js'

export interface ConsumerEvents {
  message: [record: MessageRecord, outcome: SeqOutcome | undefined]
  connect: [sessionPresent: boolean]
  disconnect: [attempt: number, retryInMs: number]
  summary: [summary: Summary]
}

export interface ConsumerStats extends ConsumerTotals {
  connected: boolean
  /** From the latest CONNACK; null before the first. */
  sessionPresent: boolean | null
}

export interface Consumer {
  /** Settles once connected and subscribed (or the session was already there). */
  readonly ready: Promise<void>
  readonly events: EventEmitter<ConsumerEvents>
  stats (): ConsumerStats
  device (deviceId: string): DeviceSeqState | undefined
  /** Disconnects (the session keeps queuing), writes the final summary, flushes the sink. */
  close (): Promise<void>
}

export interface ConsumerDeps {
  stdout?: Writable
  now?: () => number
}

export function createConsumer (config: ConsumerConfig, logger: Logger, { stdout, now = Date.now }: ConsumerDeps = {}): Consumer {
  const events = new EventEmitter<ConsumerEvents>()
  const book = createStatsBook({
    qos: config.qos, seqWindow: config.seqWindow, startedAt: now(), ...(config.group !== undefined ? { group: config.group } : {})
  })
  if (config.summaryFile !== undefined && config.resume) resume(config.summaryFile)
  const sink = createMessageSink(config.output, { stdout, onError: (err) => logger.error({ err }, 'message sink error') })
  let sessionPresent: boolean | null = null
  let writes = Promise.resolve()
  // a consumer that stays online and counts nothing must say so (a broker that never answered its SUBSCRIBE,
  // a role that grants nothing, no publisher)
  let lastMessageAt = now()
  let silenceReported = false

  const session = openSession({
    url: config.broker.url,
    clientId: config.clientId,
    username: config.username,
    password: config.password,
    // a group member subscribes to the shared form of each filter: the broker gives each message to one member
    subscriptions: config.group === undefined ? config.subscriptions : config.subscriptions.map((f) => `$share/${config.group}/${f}`),
    qos: config.qos,
    reconnect: config.reconnect,
    stateFile: config.stateFile
  }, logger, {
    onConnect (present) {
      sessionPresent = present
      events.emit('connect', present)
    },
    onDisconnect: (attempt, retryInMs) => events.emit('disconnect', attempt, retryInMs),
    onMessage (topic, payload, packet) {
      lastMessageAt = now()
      silenceReported = false
      const parsed = parseMessage(topic, payload, { qos: packet.qos, retain: packet.retain, dup: packet.dup }, now())
      const outcome = book.observe(parsed)
      if (parsed.malformed) logger.debug({ topic }, 'malformed payload')
      sink.write(parsed.record)
      events.emit('message', parsed.record, outcome)
    }
  })

  function resume (path: string): void {
    try {
      const saved = readSavedStats(path)
      if (saved === undefined) return
      book.restore(saved)
      logger.info({ file: path, devices: Object.keys(saved.perDevice).length }, 'resumed counters from the summary file')
    } catch (err) {
      logger.warn({ err, file: path }, 'summary file unusable, starting counters from zero')
    }
  }

  function reportSilence (): void {
    const silentMs = now() - lastMessageAt
    if (config.silenceWarnMs === 0 || silenceReported || silentMs < config.silenceWarnMs) return
    silenceReported = true
    logger.warn({ silentMs, subscriptions: config.subscriptions, connected: session.connected },
      'no message received for a while: is anything publishing there, and does this account\'s role grant reading it?')
  }

  function report (final: boolean): Summary {
    if (!final) reportSilence()
    const summary = book.summarize(now())
    // exactly-once means a duplicate at QoS 2 is a broker or client bug, not noise
    const level = summary.qos2Duplicates > 0 ? 'warn' : 'info'
    logger[level]({ ...summary, ...(final ? { final } : {}) }, 'summary')
    const file = config.summaryFile
    if (file !== undefined) {
      const content = { ...summary, perDevice: book.save().perDevice, writtenAt: new Date(now()).toISOString() }
      writes = writes.then(() => writeSummaryFile(file, content)).catch((err: unknown) => {
        logger.error({ err, file }, 'cannot write the summary file')
      })
    }
    events.emit('summary', summary)
    return summary
  }

  const interval = setInterval(() => report(false), config.summaryIntervalMs)
  interval.unref()

  let closing: Promise<void> | undefined
  return {
    ready: session.ready,
    events,
    stats: () => ({ ...book.totals(), connected: session.connected, sessionPresent }),
    device: (deviceId) => book.device(deviceId),
    close () {
      closing ??= (async () => {
        clearInterval(interval)
        await session.close()
        report(true)
        await writes
        await sink.close()
      })()
      return closing
    }
  }
}
