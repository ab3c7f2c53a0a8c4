// Makes mqemitter-redis, the cluster's message bus, cheap for the messages a worker both publishes and
// delivers, without changing what travels on Redis.
//
// mqemitter-redis hands even a message whose subscribers are all on this process to Redis and delivers it
// only when Redis sends it back: per message a msgpack-lite encode, a PUBLISH, a read and a msgpack-lite
// decode, about 60% of a cluster worker's CPU with 10 QoS 1 publisher/subscriber pairs. Here:
// - a client message (a topic not starting with '$') goes to this process's own listeners at once, as on one
//   process, and to Redis for the other processes; its copy coming back from Redis is recognised by its id
//   and dropped unread. Broker topics ($SYS: subscription sync, heartbeats, takeovers; $WARDEN: consumer
//   groups) still go round through Redis: their listeners count on seeing them in Redis's order.
// - encoding and decoding use bus-codec.ts (the same msgpack, written and read faster);
// - the PUBLISHes go through `publish` when given: redis-bus-batch.ts sends those of one event-loop turn as one
//   script call on the same connection, in the same order.
// Messages of one publisher stay in order for each subscriber: they all take the same way to it.
import { randomBytes } from 'node:crypto'
import { decodeEnvelope, encodeEnvelope, type BusPacket } from './bus-codec.js'
import type { BusPublish } from './redis-bus-batch.js'

type Done = (err?: Error | null) => void
type Handler = (...args: Buffer[]) => void
type Listener = (a: Buffer, b: Buffer, c: Buffer) => void
interface Connection {
  publish (channel: string, message: Buffer): Promise<unknown>
  listeners (event: string): Handler[]
  removeListener (event: string, listener: Handler): unknown
  on (event: string, listener: Listener): unknown
}
/** the parts of an MQEmitterRedis instance used here */
interface RedisEmitter {
  emit (msg: BusPacket, done?: Done): unknown
  /** the in-process MQEmitter emit: calls this process's listeners */
  _emit (msg: BusPacket, done?: Done): unknown
  /** the in-process MQEmitter on / removeListener: no Redis SUBSCRIBE / UNSUBSCRIBE */
  _on (topic: string, listener: (packet: never, done: () => void) => void, done?: () => void): unknown
  _removeListener (topic: string, listener: (packet: never, done: () => void) => void, done?: () => void): unknown
  _onError (err?: Error | null): void
  closed: boolean
  pubConn: Connection
  subConn: Connection
}

/** ids recently delivered: a message matching both a channel and a pattern subscription arrives twice */
const RECENT = 1024
const ORIGIN_BYTES = 12

/** Client messages this process put on the bus, and messages it took from the other processes. */
export interface BusStats {
  sent: number
  received: number
}

/** `publish`: how a message goes to Redis (default: a PUBLISH on mqemitter-redis's publishing connection) */
export function tuneRedisBus (bus: unknown, publish?: BusPublish): BusStats {
  const mq = bus as RedisEmitter
  const toRedis: BusPublish = publish ?? ((channel, message) => mq.pubConn.publish(channel, message))
  const stats: BusStats = { sent: 0, received: 0 }
  // unique to this process's life: the copies of its own messages coming back carry it
  const origin = randomBytes(ORIGIN_BYTES).toString('base64url')
  const originBytes = Buffer.from(origin)
  let seq = 0

  // two declared parameters, as mqemitter's own emit: the aedes adapter checks the bus's emit by its arity
  mq.emit = function emit (msg, cb) {
    const done = cb ?? mq._onError
    if (mq.closed) { done(new Error('mqemitter-redis is closed')); return }
    const local = msg.topic.charCodeAt(0) !== 36 // '$'
    const encoded = encodeEnvelope(local ? origin + (++seq).toString(36) : randomId(), msg)
    let waiting = local ? 2 : 1
    let failed = false
    const settle = (err?: Error | null): void => {
      if (failed) return
      if (err !== undefined && err !== null) { failed = true; done(err); return }
      if (--waiting === 0) done()
    }
    // the local subscribers have the message even if Redis then refuses it: the publisher, told of the
    // error, sends it again, and they get it twice (QoS 1 allows that; a QoS 2 receiver would see it twice)
    toRedis(msg.topic, encoded).then(() => settle(), settle)
    if (local) { stats.sent++; mq._emit(msg, settle) }
  }

  const recent = new Set<string>()
  const order: string[] = new Array<string>(RECENT)
  let next = 0
  const seen = (id: string): boolean => {
    if (recent.has(id)) return true
    const old = order[next]
    if (old !== undefined) recent.delete(old)
    order[next] = id
    recent.add(id)
    next = (next + 1) % RECENT
    return false
  }

  /** this process's client message, already delivered here when it was published */
  const isOwnEcho = (channel: Buffer, message: Buffer): boolean => {
    if (channel[0] === 36 || message.length < 5 + originBytes.length) return false
    // fixmap(2), fixstr "id", then the id's own header: the layout encodeEnvelope writes
    if (message[0] !== 0x82 || message[1] !== 0xa2 || message[2] !== 0x69 || message[3] !== 0x64) return false
    const t = message[4] ?? 0
    if ((t & 0xe0) !== 0xa0 || (t & 0x1f) <= originBytes.length) return false
    return message.compare(originBytes, 0, originBytes.length, 5, 5 + originBytes.length) === 0
  }

  const receive = (channel: Buffer, message: Buffer): void => {
    if (isOwnEcho(channel, message)) return
    // A `#` subscriber makes the bus listen to every Redis channel (pattern `*`), Warden's registry and
    // consumer-group announcements included: mqemitter-redis threw on those (an uncaught AssertionError, the
    // process died). What is not a bus message is not one for this bus.
    const env = decodeEnvelope(message)
    if (env === undefined || seen(env.id)) return
    if (channel[0] !== 36) stats.received++ // a client message (not $SYS, not a consumer group's hand-over)
    mq._emit(env.msg)
  }

  // in place of mqemitter-redis's own handlers
  const sub = mq.subConn
  for (const event of ['messageBuffer', 'pmessageBuffer']) for (const l of sub.listeners(event)) sub.removeListener(event, l)
  sub.on('messageBuffer', (channel: Buffer, message: Buffer) => receive(channel, message))
  sub.on('pmessageBuffer', (_pattern: Buffer, channel: Buffer, message: Buffer) => receive(channel, message))
  return stats
}

/** a connection as watched for its subscriptions' return: ioredis's events, status and PING */
interface SubscriberConnection {
  readonly status: string
  on (event: 'close' | 'ready', listener: () => void): unknown
  ping (): Promise<unknown>
}

/** how soon a PING refused while Redis loads its data is sent again */
const LOADING_RETRY_MS = 100

/**
 * Calls `listener` each time the bus's subscriber connection is subscribed again after it was lost (Redis
 * restarted, the connection dropped): what other processes published meanwhile reached no one here. ioredis
 * emits 'ready' before it writes the SUBSCRIBE and PSUBSCRIBE of before the loss; a PING written after them is
 * answered after them, once Redis has them. A Redis still loading its data (AOF, RDB) takes SUBSCRIBE but
 * refuses PING (LOADING): it is sent again until answered, or until the connection is lost again (its next
 * 'ready' starts over).
 */
export function onResubscribed (bus: unknown, listener: () => void): void {
  const sub = (bus as { subConn: SubscriberConnection }).subConn
  let lost = false
  let connection = 0
  sub.on('close', () => { lost = true })
  sub.on('ready', () => {
    if (!lost) return
    lost = false
    const current = ++connection
    const confirm = (): void => {
      sub.ping().then(() => { if (current === connection) listener() }, () => {
        if (current === connection && sub.status === 'ready') setTimeout(confirm, LOADING_RETRY_MS).unref()
      })
    }
    setImmediate(confirm)
  })
}

/** ids of messages that go round through Redis: unique, never taken for this process's echoes */
function randomId (): string {
  return randomBytes(12).toString('base64url')
}

/**
 * Listeners of the client messages published on this process only, with no Redis subscription: the other
 * processes' messages on their topics are not read from Redis for them. Consumer groups listen so (the process
 * a message was published on dispatches it for the whole cluster): with an ordinary Redis subscription every
 * process read, decoded and dropped every group message published on the others, and Redis sent each one to
 * every process. Only for topics not starting with '$' (those go round through Redis, see emit above); a message
 * another process sent that reaches this process for an ordinary subscription still reaches these listeners.
 */
export interface LocalListeners {
  /** `P`: the packets as the listener reads them (the bus hands over what was emitted) */
  on<P> (topic: string, listener: (packet: P, done: () => void) => void, done?: () => void): void
  removeListener<P> (topic: string, listener: (packet: P, done: () => void) => void, done?: () => void): void
}

export function localListeners (bus: unknown): LocalListeners {
  const mq = bus as RedisEmitter
  if (typeof mq._on !== 'function' || typeof mq._removeListener !== 'function') {
    throw new Error('mqemitter-redis has no _on/_removeListener (its in-process MQEmitter methods): cannot listen locally')
  }
  return {
    on (topic, listener, done) { mq._on(topic, listener, done) },
    removeListener (topic, listener, done) { mq._removeListener(topic, listener, done) }
  }
}
