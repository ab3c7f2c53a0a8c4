// What an MQTT 5 client asks of the PUBLISH packets sent to it, which aedes 2.0.0-beta.1 only records: its
// Receive Maximum — no more QoS 1/2 PUBLISHes unacknowledged at once (MQTT-3.3.4-9); the others wait, in
// order — and its Topic Alias Maximum, which lets the broker replace a topic it sent before by a number.
// aedes writes every packet through mqtt-packet's writeToStream from several places (live delivery, the
// stored queue on reconnect, retained messages): PUBLISH and PUBREL are routed here through packet-writes.ts;
// only the connections whose state this module set up are acted on, every other write passes unchanged.
import type { Duplex } from 'node:stream'
import type { Aedes, Client } from 'aedes'
import mqttPacket from 'mqtt-packet'
import { clientOfConn, clientOfParser, clientsOf, connOf, parserOf } from './accessors.js'
import { releasePacketId } from './packet-ids.js'
import { onConnectionClose, watchClose } from './close-hooks.js'
import { brokerInternals, clientInternals, type MqttParser } from './internals.js'
import { markNeverSent } from './never-sent.js'
import { fn, patch } from './patch.js'
import { rewriteWrites, type PacketRewrite, type WriteOptions, type WriteToStream } from './packet-writes.js'
import { storeOf, type StoredPacket } from './store.js'
import { refuseConnect } from './v5-answers.js'

type Packet = mqttPacket.Packet & { messageExpiry?: number }

const WINDOW = Symbol('warden.outboundWindow')
/** no Receive Maximum of the client's own: packet ids bound it anyway */
const NO_LIMIT = 65535

export interface OutboundWindowOptions {
  /** topic aliases the broker sets up per client at most (0: none), whatever the client allows */
  maxTopicAliases: number
  /** bytes held back and waiting on the socket together, past which the client is cut off (0: no bound) */
  maxOutgoingBytes: number
  onSlowConsumer (client: Client, bytes: number): void
  /** a held message expired before it could be sent: the broker behaves as if it had been acknowledged */
  onExpired (client: Client, packet: Packet): void
}

interface Window {
  readonly client: Client
  readonly receiveMaximum: number
  readonly inflight: Set<number>
  readonly held: Packet[]
  heldBytes: number
  readonly aliasMaximum: number
  readonly aliases: Map<string, number>
  readonly opts: OutboundWindowOptions
}

type Windowed = { [WINDOW]?: Window }

let write: WriteToStream | undefined

/** Routes the PUBLISH and PUBREL packets aedes writes through the window of their connection (packet-writes.ts). */
export function installOutboundWrites (): void {
  const through: PacketRewrite = (packet, stream, opts, original) => {
    // aedes gives a delivery its packet id, then lowers it to an exact-topic subscription's QoS 0: the id, held
    // from when it was given (packet-ids.ts), is not in flight
    if ((packet as { qos?: number }).qos === 0 && (packet as { messageId?: number }).messageId !== undefined) {
      const client = clientOfConn(stream as Duplex) as Client | undefined
      if (client !== undefined) releasePacketId(client, (packet as { messageId?: number }).messageId)
    }
    const w = (stream as Windowed)[WINDOW]
    return w === undefined ? original(packet, stream, opts) : send(w, packet as Packet, stream, opts)
  }
  write = rewriteWrites('publish', through)
  rewriteWrites('pubrel', through)
}

function send (w: Window, packet: Packet, stream: NodeJS.WritableStream, opts?: WriteOptions): boolean {
  const id = (packet as { messageId?: number }).messageId
  if (packet.cmd === 'pubrel') {
    if (id !== undefined) w.inflight.add(id)
    return (write as WriteToStream)(packet, stream, opts)
  }
  const qos = (packet as mqttPacket.IPublishPacket).qos
  if (qos > 0 && id !== undefined && !w.inflight.has(id)) {
    if (w.held.length > 0 || w.inflight.size >= w.receiveMaximum) return hold(w, packet, stream)
    w.inflight.add(id)
  }
  return writePublish(w, packet as mqttPacket.IPublishPacket & Packet, stream, opts)
}

function hold (w: Window, packet: Packet, stream: NodeJS.WritableStream): boolean {
  w.held.push(packet)
  const p = packet as mqttPacket.IPublishPacket
  w.heldBytes += p.topic.length + (p.payload?.length ?? 0)
  const waiting = w.heldBytes + (stream as NodeJS.WritableStream & { writableLength: number }).writableLength
  if (w.opts.maxOutgoingBytes > 0 && waiting > w.opts.maxOutgoingBytes) {
    const conn = connOf(w.client)
    if (!conn.destroyed) {
      w.opts.onSlowConsumer(w.client, waiting)
      conn.destroy()
    }
  }
  return true
}

/** the message as this client gets it now: time left to live, topic alias; false when it has expired */
function writePublish (w: Window, packet: mqttPacket.IPublishPacket & Packet, stream: NodeJS.WritableStream, opts?: WriteOptions): boolean {
  let out = packet
  if (packet.messageExpiry !== undefined) {
    const left = packet.messageExpiry - Date.now()
    if (left <= 0) {
      if (packet.messageId !== undefined) w.inflight.delete(packet.messageId)
      w.opts.onExpired(w.client, packet)
      return true
    }
    out = { ...out, properties: { ...out.properties, messageExpiryInterval: Math.ceil(left / 1000) } }
  }
  if (w.aliasMaximum > 0) {
    const alias = w.aliases.get(packet.topic)
    if (alias !== undefined) {
      out = { ...out, topic: '', properties: { ...out.properties, topicAlias: alias } }
    } else if (w.aliases.size < w.aliasMaximum) {
      const next = w.aliases.size + 1
      w.aliases.set(packet.topic, next)
      out = { ...out, properties: { ...out.properties, topicAlias: next } }
    }
  }
  return (write as WriteToStream)(out, stream, opts)
}

/** an acknowledgement ended the flow of packet `id`: the next held message may go */
function acknowledged (w: Window, id: number): void {
  if (!w.inflight.delete(id)) return
  const conn = connOf(w.client)
  while (w.held.length > 0 && w.inflight.size < w.receiveMaximum && !conn.destroyed) {
    const p = w.held.shift() as mqttPacket.IPublishPacket & Packet
    w.heldBytes -= p.topic.length + (p.payload?.length ?? 0)
    if (p.messageId !== undefined) w.inflight.add(p.messageId)
    writePublish(w, p, conn, { protocolVersion: 5 })
  }
}

/** frees a place in the window of the client whose parser it listens on */
function onAck (this: MqttParser, p: mqttPacket.Packet): void {
  if (p.cmd === 'puback' || p.cmd === 'pubcomp' || (p.cmd === 'pubrec' && (p.reasonCode ?? 0) >= 0x80)) {
    const w = (connOf(clientOfParser(this)) as Windowed)[WINDOW]
    if (w !== undefined && p.messageId !== undefined) acknowledged(w, p.messageId)
  }
}

/** a close hook (close-hooks.ts): what the window still held was given packet ids and never sent (never-sent.ts) */
function heldAtClose (conn: NodeJS.ReadableStream): void {
  const w = (conn as Windowed)[WINDOW]
  if (w === undefined || w.held.length === 0) return
  const broker = clientInternals(w.client).broker
  // taken over on this process: the new connection may have read the queue already, and be sending them
  const now = clientsOf(broker as unknown as Aedes)[w.client.id]
  if (now !== undefined && now !== w.client) return
  markNeverSent(storeOf(broker.persistence), w.client.id, w.held as unknown as StoredPacket[])
}

/**
 * At an MQTT 5 client's CONNECT (v5-packets.ts): what it accepts. A client that set neither a Receive Maximum
 * nor a Topic Alias Maximum costs nothing; for the others, their PUBACK, PUBCOMP and failed PUBREC free a
 * place in the window (MQTT-4.9), seen after aedes has handled them.
 */
export function watchOutbound (opts: OutboundWindowOptions): (client: Client, connect: mqttPacket.IConnectPacket) => void {
  return (client, p) => {
    const receiveMaximum = p.properties?.receiveMaximum ?? NO_LIMIT
    const aliasMaximum = Math.min(p.properties?.topicAliasMaximum ?? 0, opts.maxTopicAliases)
    if (receiveMaximum >= NO_LIMIT && aliasMaximum === 0) return
    ;(connOf(client) as Windowed)[WINDOW] = { client, receiveMaximum, inflight: new Set(), held: [], heldBytes: 0, aliasMaximum, aliases: new Map(), opts }
    parserOf(client).on('packet', onAck as (packet: { cmd: string }) => void)
    const broker = clientInternals(client).broker
    onConnectionClose(broker, heldAtClose)
    watchClose(broker, connOf(client))
  }
}

const PROTOCOL_ERROR = 0x82

/** A Maximum Packet Size of 0 is a Protocol Error (MQTT 5 3.1.2.11.4): CONNACK 0x82, where beta.1 accepts it. */
export function refuseZeroPacketSize (broker: Aedes): void {
  patch(brokerInternals(broker), 'preConnect', fn(3), (preConnect) => (client, packet, cb) => {
    if (packet.protocolVersion === 5 && packet.properties?.maximumPacketSize === 0) {
      refuseConnect(client, PROTOCOL_ERROR)
      // once mqtt-packet has written the CONNACK out (it corks until the next tick): the error closes the socket
      setImmediate(cb, new Error('Maximum Packet Size 0 is a protocol error'), false)
      return
    }
    preConnect(client, packet, cb)
  }, 'aedes 2.0.0-beta.1 accepts a CONNECT with a Maximum Packet Size of 0, a protocol error', 'broker')
}
