// One simulated device: its own MQTT connection, a paced telemetry timer, and a retained online/offline status.
import { connect, type MqttClient } from 'mqtt'
import { createBackoff, encodeStatus, encodeTelemetry, statusTopic, telemetryTopic, type DeviceState, type Logger } from '@warden/common'
import { createPacer } from './pacer.js'
import { createReadingGenerator, seedFromString, type ReadingGenerator } from './telemetry.js'

export interface DeviceOptions {
  url: string
  username: string
  password: string
  /** Random per process start; carried in every payload. */
  run: string
  qos: 0 | 1 | 2
  /** Messages per second; may be fractional. */
  rate: number
  /** Last sequence number issued before this process started; the first message carries lastSeq + 1. */
  lastSeq: number
  /** Called each time a sequence number is issued, e.g. to persist it. */
  onSeq?: (seq: number) => void
  reconnectPeriodMs: number
  maxReconnectPeriodMs: number
  /** How long close() waits for in-flight acknowledgements before giving up on them. */
  closeTimeoutMs: number
  logger: Logger
  readings?: ReadingGenerator
  /** Wall clock for `ts`; injectable for tests. */
  now?: () => number
}

export interface DeviceStats {
  username: string
  connected: boolean
  /** Telemetry messages handed to MQTT.js. */
  published: number
  /** Telemetry messages acknowledged (QoS 1/2) or written (QoS 0). */
  acked: number
  failed: number
  lastSeq: number
  connects: number
  /** the broker refused this device's credentials for good: it is stopped */
  refused: boolean
}

export interface Device {
  readonly username: string
  start (): void
  close (): Promise<void>
  stats (): DeviceStats
}

// bounds the final DISCONNECT write; the wait for acks is bounded by closeTimeoutMs
const END_TIMEOUT_MS = 1000

/**
 * CONNACK codes that another attempt with the same credentials cannot change: such a device is stopped with
 * one error line instead of retrying forever (3, server unavailable, and a login throttle are retried).
 */
const FINAL_REFUSALS: Readonly<Record<number, string>> = {
  2: 'client identifier rejected (another account holds this client id)',
  4: 'bad user name or password: each simulated device needs its own account on the broker (see the README, "Run it"), ' +
    'or, after a store switch, the broker\'s registry has not been imported (see the README, "Switching stores")',
  5: 'not authorized'
}

export function createDevice (opts: DeviceOptions): Device {
  const { username, run, qos, logger } = opts
  const now = opts.now ?? Date.now
  const readings = opts.readings ?? createReadingGenerator({ seed: seedFromString(username) })
  const backoff = createBackoff({ minMs: opts.reconnectPeriodMs, maxMs: opts.maxReconnectPeriodMs, jitter: 0 })
  const pacer = createPacer(opts.rate, performance.now())
  const counts = { published: 0, acked: 0, failed: 0, connects: 0 }
  let lastSeq = opts.lastSeq
  let inflight = 0
  let onDrained: Array<() => void> = []
  let client: MqttClient | undefined
  let timer: NodeJS.Timeout | undefined
  let closing: Promise<void> | undefined
  let wasConnected = false
  let lastError = ''
  let refused = false

  const status = (state: DeviceState): string => encodeStatus({ deviceId: username, state, run, ts: now() })

  const send = (c: MqttClient, topic: string, payload: string, sendQos: 0 | 1 | 2, retain: boolean, onDone?: (err?: Error | null) => void): void => {
    inflight++
    c.publish(topic, payload, { qos: sendQos, retain }, (err) => {
      inflight--
      onDone?.(err)
      if (inflight === 0) {
        for (const f of onDrained) f()
        onDrained = []
      }
    })
  }

  const publishTelemetry = (c: MqttClient): void => {
    // the number is taken only here, when a publish is really issued, so being offline never leaves a gap
    const seq = ++lastSeq
    opts.onSeq?.(seq)
    counts.published++
    const payload = encodeTelemetry({ deviceId: username, run, seq, ts: now(), readings: readings.next() })
    send(c, telemetryTopic(username), payload, qos, false, (err) => {
      // MQTT.js reports success as null or undefined depending on the path
      if (err == null) counts.acked++
      else counts.failed++
    })
  }

  const tick = (): void => {
    const at = performance.now()
    // skip ticks while offline instead of queueing: nothing is owed for time spent disconnected
    if (client === undefined || !client.connected || closing !== undefined) {
      pacer.reset(at)
      return
    }
    for (let n = pacer.due(at); n > 0; n--) publishTelemetry(client)
  }

  const wire = (c: MqttClient): void => {
    c.on('connect', () => {
      counts.connects++
      wasConnected = true
      lastError = ''
      c.options.reconnectPeriod = backoff.reset()
      pacer.reset(performance.now())
      // a clean DISCONNECT does not fire the will, so a device reconnecting while closing says offline itself
      send(c, statusTopic(username), status(closing === undefined ? 'online' : 'offline'), 1, true)
      logger.info({ device: username, connects: counts.connects, lastSeq }, 'connected')
    })
    c.on('reconnect', () => {
      // MQTT.js re-arms its reconnect timer from options.reconnectPeriod after each failed attempt
      c.options.reconnectPeriod = backoff.fail()
      // the broker sends the will verbatim, so refresh its timestamp for each new connection
      if (c.options.will !== undefined) c.options.will.payload = status('offline')
    })
    c.on('close', () => {
      if (!wasConnected) return
      wasConnected = false
      const retry = closing === undefined ? { nextRetryMs: c.options.reconnectPeriod } : { closing: true }
      logger.info({ device: username, lastSeq, ...retry }, 'disconnected')
    })
    c.on('error', (err) => {
      const code = (err as { code?: unknown }).code
      const final = typeof code === 'number' ? FINAL_REFUSALS[code] : undefined
      if (final !== undefined) {
        if (refused) return
        refused = true
        logger.error({ device: username, code }, `${username}: refused by the broker, stopped: ${final}`)
        c.end(true)
        return
      }
      // a broker that stays down would otherwise log the same line on every retry
      const level = err.message === lastError ? 'debug' : 'warn'
      lastError = err.message
      logger[level]({ device: username, error: err.message, code: (err as { code?: unknown }).code }, 'connection error')
    })
  }

  const waitForDrain = (ms: number): Promise<void> => {
    if (inflight === 0) return Promise.resolve()
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms)
      onDrained.push(() => { clearTimeout(t); resolve() })
    })
  }

  const shutdown = async (c: MqttClient): Promise<void> => {
    if (c.connected) send(c, statusTopic(username), status('offline'), 1, true)
    await waitForDrain(opts.closeTimeoutMs)
    if (inflight > 0) logger.warn({ device: username, unacknowledged: inflight, lastSeq }, 'closing without acknowledgement of some messages')
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => { c.stream?.destroy(); resolve() }, END_TIMEOUT_MS)
      // force only when acks are still owed: a plain end() would wait for them forever
      c.end(inflight > 0, () => { clearTimeout(t); resolve() })
    })
  }

  return {
    username,
    start () {
      if (client !== undefined) return
      client = connect(opts.url, {
        clientId: `warden-dev-${username}`,
        username,
        password: opts.password,
        protocolVersion: 4,
        clean: true,
        reconnectPeriod: backoff.current,
        // refused CONNACKs (broker restarting, users not loaded yet) are retried with the same back-off
        reconnectOnConnackError: true,
        queueQoSZero: false,
        will: { topic: statusTopic(username), payload: status('offline'), qos: 1, retain: true }
      })
      wire(client)
      timer = setInterval(tick, pacer.tickMs)
    },
    close () {
      if (closing === undefined) {
        clearInterval(timer)
        closing = client === undefined ? Promise.resolve() : shutdown(client)
      }
      return closing
    },
    stats: () => ({ username, connected: client?.connected ?? false, refused, ...counts, lastSeq })
  }
}
