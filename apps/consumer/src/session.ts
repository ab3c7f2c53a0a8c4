// A persistent MQTT session: stable clientId, clean=false, reconnect with back-off, subscribe only when the broker forgot us.
import { createBackoff, type Logger } from '@warden/common'
import { connect, ErrorWithReasonCode, type IPublishPacket, type MqttClient } from 'mqtt'
import { createQos2Inbox } from './incoming-store.js'
import { saveUnreleasedIds, takeUnreleasedIds } from './qos2-state-file.js'

export interface SessionOptions {
  url: string
  clientId: string
  username?: string
  password?: string
  subscriptions: readonly string[]
  qos: 0 | 1 | 2
  reconnect: { minMs: number, maxMs: number }
  /** Where unreleased QoS 2 packet ids wait between runs; without it a restart may duplicate QoS 2 messages. */
  stateFile?: string
  /** how long a SUBSCRIBE may go unanswered before the consumer logs an error (it keeps waiting); 10 s */
  subackWarnMs?: number
}

export interface SessionHandlers {
  onMessage: (topic: string, payload: Buffer, packet: IPublishPacket) => void
  onConnect?: (sessionPresent: boolean) => void
  /** The connection is gone (or never came); the next attempt is `retryInMs` away. */
  onDisconnect?: (attempt: number, retryInMs: number) => void
}

export interface Session {
  /** Settles after the first CONNACK once subscriptions are in place; rejects if the broker refuses our credentials. */
  readonly ready: Promise<void>
  readonly connected: boolean
  /** Disconnects politely, so the broker keeps the session and queues for us. */
  close (): Promise<void>
}

// CONNACK codes that retrying cannot fix: bad protocol, client id rejected, bad credentials, not authorised
const FATAL_CONNACK = new Set([1, 2, 4, 5])
const END_TIMEOUT_MS = 3000
/** a broker that accepted the connection but never answers the SUBSCRIBE is reported, not waited on silently */
const SUBACK_WARN_MS = 10_000

export function openSession (options: SessionOptions, logger: Logger, handlers: SessionHandlers): Session {
  const { url, clientId, stateFile } = options
  const backoff = createBackoff(options.reconnect)
  let attempts = 0
  let timer: NodeJS.Timeout | undefined
  let closing = false
  let everConnected = false
  let subscriptionsPending = false
  let settle: { resolve: () => void, reject: (err: Error) => void } | undefined
  const ready = new Promise<void>((resolve, reject) => { settle = { resolve, reject } })
  ready.catch(() => {}) // the caller may never await it; a refusal is logged below too
  const markReady = (): void => { settle?.resolve(); settle = undefined }

  const deliver = (packet: IPublishPacket): void => {
    handlers.onMessage(packet.topic, typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload, packet)
  }
  const inbox = createQos2Inbox(deliver, carriedIds())
  const client: MqttClient = connect(url, {
    clientId,
    clean: false,
    username: options.username,
    password: options.password,
    protocolVersion: 4,
    keepalive: 30,
    connectTimeout: 10_000,
    // MQTT.js's own reconnect has a fixed period; we run our own loop with back-off
    reconnectPeriod: 0,
    // we decide when to subscribe, from sessionPresent
    resubscribe: false,
    incomingStore: inbox.store
  })

  client.on('connect', (connack) => {
    backoff.reset()
    attempts = 0
    const sessionPresent = connack.sessionPresent
    logger.info({ clientId, sessionPresent }, 'connected')
    handlers.onConnect?.(sessionPresent)
    const reconnected = everConnected
    everConnected = true
    if (!sessionPresent) {
      inbox.forget()
      if (reconnected) logger.warn('the broker had no session for us: messages sent while we were away may be missing')
      subscriptionsPending = true
    }
    // a session whose SUBACK we never saw (the link dropped in between) may hold no subscriptions yet
    if (subscriptionsPending) subscribe()
    else markReady()
  })
  client.on('message', (_topic, _payload, packet) => {
    // QoS 2 was delivered when the inbox stored it; this event is its PUBREL
    if (packet.qos !== 2) deliver(packet)
  })
  client.on('error', (err) => {
    const code = err instanceof ErrorWithReasonCode ? err.code : undefined
    if (code !== undefined && FATAL_CONNACK.has(code) && !everConnected && settle !== undefined) {
      settle.reject(err)
      settle = undefined
    }
    logger.warn({ err: { message: err.message, code } }, 'mqtt error')
  })
  client.on('close', () => {
    if (closing || timer !== undefined) return
    const delay = backoff.next()
    attempts++
    logger.info({ inMs: delay, attempt: attempts }, 'disconnected, will reconnect')
    handlers.onDisconnect?.(attempts, delay)
    timer = setTimeout(() => {
      timer = undefined
      // without the stores, MQTT.js would start empty ones and forget unfinished QoS 2 exchanges
      client.reconnect({ incomingStore: client.incomingStore, outgoingStore: client.outgoingStore })
    }, delay)
  })

  function carriedIds (): number[] {
    if (stateFile === undefined) return []
    try {
      return takeUnreleasedIds(stateFile, url, clientId)
    } catch (err) {
      logger.warn({ err, file: stateFile }, 'QoS 2 state file unusable: a resent QoS 2 message may be delivered twice')
      return []
    }
  }

  function subscribe (): void {
    const map = Object.fromEntries(options.subscriptions.map((t) => [t, { qos: options.qos }]))
    const waitMs = options.subackWarnMs ?? SUBACK_WARN_MS
    const silent = setTimeout(() => {
      logger.error({ subscriptions: options.subscriptions, waitedMs: waitMs }, 'no SUBACK from the broker: subscribed to nothing yet, still waiting')
    }, waitMs)
    silent.unref()
    client.subscribe(map, (err, granted) => {
      clearTimeout(silent)
      if (err !== null && err !== undefined) {
        logger.error({ err }, 'subscribe failed')
        return
      }
      for (const g of granted ?? []) {
        if (g.qos === 128) logger.error({ topic: g.topic }, 'subscription refused by the broker')
        else if (g.qos < options.qos) logger.warn({ topic: g.topic, granted: g.qos, wanted: options.qos }, 'subscription granted at a lower QoS')
      }
      subscriptionsPending = false
      logger.info({ subscriptions: options.subscriptions, qos: options.qos }, 'subscribed')
      markReady()
    })
  }

  /**
   * Stops parsing input, then lets MQTT.js finish what it has already parsed, so every message delivered
   * is acknowledged before our DISCONNECT and every message not delivered stays unacknowledged, for the
   * broker to resend to the next session. The order matters: a broker may still act on acknowledgements
   * that follow a DISCONNECT, and one for an undelivered message would lose it.
   */
  async function stopReading (): Promise<void> {
    const stream = client.stream
    if (client.connected && stream !== undefined) {
      // MQTT.js reads by piping the socket into its parser; keep the socket flowing so its close is seen
      stream.unpipe()
      stream.resume()
    }
    // MQTT.js works through parsed packets on process.nextTick, which all run before this
    await new Promise((resolve) => setImmediate(resolve))
  }

  return {
    ready,
    get connected () { return client.connected },
    async close () {
      if (closing) return
      closing = true
      clearTimeout(timer)
      timer = undefined
      if (settle !== undefined) { settle.reject(new Error('closed before connecting')); settle = undefined }
      await stopReading()
      const polite = client.endAsync(false)
      let limit: NodeJS.Timeout | undefined
      const timeout = new Promise<'timeout'>((resolve) => { limit = setTimeout(() => resolve('timeout'), END_TIMEOUT_MS) })
      const outcome = await Promise.race([polite.then(() => 'ended' as const), timeout])
      clearTimeout(limit)
      // end() ignores a second call while disconnecting, so cut the socket ourselves
      if (outcome === 'timeout') client.stream?.destroy()
      if (stateFile !== undefined) await saveUnreleasedIds(stateFile, url, clientId, inbox.unreleased())
    }
  }
}
