// Per-connection protections installed on every aedes client, whatever the listener (in the order of
// connection-patches.ts): the packet guard in front of the parser, and the bound on bytes waiting to be
// written to a client that does not read. Each is set up once per broker: a connection gets the shared
// wrapper and, for the packet guard, its framing state, and no closure of its own.
import type { Duplex } from 'node:stream'
import type { Client } from 'aedes'
import { clientOfConn, clientOfParser, connackSent, connOf, parserOf } from '../aedes/accessors.js'
import type { MqttParser } from '../aedes/internals.js'
import { fn, patchEach } from '../aedes/patch.js'
import { PacketGuard, type GuardViolation } from './packet-guard.js'
import { publishPropertyError, willPropertyError } from './client-properties.js'
import { disconnectWith, isMqtt5 } from '../aedes/v5-answers.js'
import { V5 } from '../hooks/reason-codes.js'

export interface ConnectionGuardOptions {
  maxPacketBytes: number
  /** 0: no bound of Warden's own (aedes's drainTimeout still applies) */
  maxOutgoingBytes: number
  /** MQTT 5 topic aliases set up on what a client is sent, at most (limits.outboundTopicAliases) */
  outboundTopicAliases: number
  onMalformed (client: Client, v: GuardViolation): void
  onSlowConsumer (client: Client, bufferedBytes: number): void
}

type Write = (chunk: unknown, encoding?: unknown, cb?: unknown) => boolean

const GUARD = Symbol('warden.packetGuard')
type Guarded = MqttParser & { [GUARD]: PacketGuard }

export function guardParser (opts: ConnectionGuardOptions): (client: Client) => void {
  const install = patchEach<MqttParser, 'parse'>('parse', fn(1), (parse) => function (this: Guarded, buf: Buffer): number {
    const guard = this[GUARD]
    if (guard.refused) return 0
    const v = guard.feed(buf)
    if (v === null) return parse.call(this, buf)
    guard.refused = true
    const client = clientOfParser(this)
    const conn = connOf(client)
    if (!conn.destroyed) {
      opts.onMalformed(client, v)
      // an MQTT 5 client is told why (MQTT-3.2.2-15); the rest of what it sends is not read meanwhile
      if (v.reason === 'packet-too-large' && connackSent(client) && isMqtt5(client)) disconnectWith(client, V5.PACKET_TOO_LARGE)
      else conn.destroy()
    }
    return 0
  }, 'mqtt-packet buffers a packet of any announced length and decodes strings MQTT-1.5.3 forbids', 'parser')
  // what mqtt-packet refuses itself (QoS 3, reserved flags or packet types, a truncated field, a property
  // Warden refuses: client-properties.ts) closes the connection through aedes: audited here, once
  const audit = patchEach<Parsing, '_emitError'>('_emitError', fn(1), (emitError) => function (this: Parsing, err: Error): void {
    const guard = this[GUARD]
    if (!guard.refused) {
      guard.refused = true
      opts.onMalformed(clientOfParser(this), { reason: 'malformed-packet', detail: err.message })
    }
    emitError.call(this, err)
  }, 'mqtt-packet\'s own refusals of a malformed packet close the connection unaudited', 'parser')
  return (client) => {
    const parser = parserOf(client) as Parsing
    parser[GUARD] = new PacketGuard(opts.maxPacketBytes)
    install(parser)
    audit(parser)
  }
}

type Props = Readonly<Record<string, unknown>> | undefined
/** mqtt-packet's parser while it parses a packet: its error ends the parse, and the packet is not emitted */
type Parsing = Guarded & {
  readonly packet: { properties?: Props, will?: { properties?: Props }, qos?: number, messageId?: number }
  readonly error: Error | null
  _parsePublish (): unknown
  _parseConnect (): unknown
  _emitError (err: Error): void
}

const WHY_PROPERTIES = 'mqtt-packet parses any MQTT 5 property in any packet and aedes forwards it to subscribers: a PUBLISH\'s ' +
  'Reason String, Subscription Identifier, a will\'s Topic Alias (client-properties.ts)'

/**
 * A client's PUBLISH or will carrying a property it may not set (client-properties.ts), or a QoS 1/2 PUBLISH with
 * packet id 0 (MQTT-2.3.1-1), is refused as it is parsed, as mqtt-packet refuses a malformed packet itself: never
 * emitted to aedes, the connection closed, audited. Only MQTT 5 packets have properties; each PUBLISH pays one
 * property check.
 */
export function refuseClientProperties (): (client: Client) => void {
  // audited as the guard's parser error (guardParser)
  const refuse = (parser: Parsing, why: string | null): void => {
    if (why !== null && parser.error === null) parser._emitError(new Error(why))
  }
  const publish = patchEach<Parsing, '_parsePublish'>('_parsePublish', fn(0), (parsePublish) => function (this: Parsing): unknown {
    const out = parsePublish.call(this)
    const packet = this.packet
    // mqtt-packet reads a packet id of 0 as any other; aedes then answers PUBACK 0 (Mosquitto closes the connection)
    if (packet.messageId === 0 && (packet.qos ?? 0) > 0) refuse(this, 'QoS 1 or 2 PUBLISH with packet id 0 (MQTT-2.3.1-1)')
    else if (packet.properties !== undefined) refuse(this, publishPropertyError(packet.properties))
    return out
  }, WHY_PROPERTIES, 'parser')
  const connect = patchEach<Parsing, '_parseConnect'>('_parseConnect', fn(0), (parseConnect) => function (this: Parsing): unknown {
    const out = parseConnect.call(this)
    const will = this.packet.will
    if (will?.properties !== undefined) refuse(this, willPropertyError(will.properties))
    return out
  }, WHY_PROPERTIES, 'parser')
  return (client) => {
    const parser = parserOf(client) as Parsing
    publish(parser)
    connect(parser)
  }
}

export function boundWrites (opts: ConnectionGuardOptions): (client: Client) => void {
  // aedes waits for 'drain' whenever write() says the buffer is full, holding one of the message bus's
  // few delivery slots meanwhile: a handful of frozen subscribers would stall everyone until
  // drainTimeout. Below the bound, tell aedes all is well (the stream buffers it); past it, the client is
  // too slow to keep: disconnect it (its persistent session keeps the QoS 1/2 messages for later).
  const install = patchEach<Duplex, 'write'>('write', fn(3), (original) => function (this: Duplex, chunk: unknown, encoding: unknown, cb: unknown): boolean {
    if ((original as Write).call(this, chunk, encoding, cb)) return true
    if (this.writableLength > opts.maxOutgoingBytes && !this.destroyed) {
      opts.onSlowConsumer(clientOfConn(this), this.writableLength)
      this.destroy()
    }
    return true
  } as Duplex['write'], 'aedes holds a delivery slot of the bus while a socket that does not read drains', 'client.conn')
  return opts.maxOutgoingBytes > 0 ? (client) => { install(connOf(client)) } : () => {}
}
