// mqtt-packet's writeToStream is the one function through which aedes writes every packet (live delivery, the
// stored queue on reconnect, retained messages, CONNACK). Warden rewrites some of them on the way out — the
// outbound window (outbound-window.ts: PUBLISH, PUBREL) and the CONNACK's Shared Subscription Available
// (shared-subscribe.ts) — so it is wrapped here, once per process (several brokers of one process share
// mqtt-packet), and a packet pays one wrapper and one lookup by its command however many rewrites there are.
import mqttPacket from 'mqtt-packet'
import { fn, patch } from './patch.js'

export type WriteToStream = typeof mqttPacket.writeToStream
export type WriteOptions = Parameters<WriteToStream>[2]
/** writes `packet` in its own way, or passes it on to `write` (mqtt-packet's own) */
export type PacketRewrite = (packet: mqttPacket.Packet, stream: NodeJS.WritableStream, opts: WriteOptions | undefined, write: WriteToStream) => boolean

const rewrites = new Map<string, PacketRewrite>()
/** commands whose packets are held back (client-internals.ts holdConnection) before they are written */
const held = new Set<string>()
let hold: ((stream: NodeJS.WritableStream) => void) | undefined
/** PUBLISHes not to be written at all (unqueued-deliveries.ts): written as if sent, aedes is called back */
let skip: ((packet: mqttPacket.Packet) => boolean) | undefined
let original: WriteToStream | undefined

function wrap (): WriteToStream {
  if (original === undefined) {
    patch(mqttPacket, 'writeToStream', fn(3), (write) => {
      original = write
      const writePacket = (packet: mqttPacket.Packet, stream: NodeJS.WritableStream, opts?: WriteOptions): boolean => {
        if (skip !== undefined && packet.cmd === 'publish' && skip(packet)) return true
        if (hold !== undefined && held.has(packet.cmd)) hold(stream)
        const r = rewrites.get(packet.cmd)
        return r === undefined ? write(packet, stream, opts) : r(packet, stream, opts, write)
      }
      return ((packet: mqttPacket.Packet, stream: NodeJS.WritableStream, opts?: WriteOptions) => {
        const kept = (stream as Connecting)[EARLY]
        return kept === undefined ? writePacket(packet, stream, opts) : beforeConnack(packet, stream as Connecting, opts, kept, writePacket)
      }) as WriteToStream
    }, 'aedes 2.0.0-beta.1 writes some packets as MQTT 5 does not want them (outbound window, CONNACK properties), ' +
      'and each in its own system call', 'mqtt-packet')
  }
  return original as WriteToStream
}

/**
 * A connection that has sent CONNECT and has no CONNACK yet: what is written to it meanwhile is kept, in order,
 * for after the CONNACK (markBeforeConnack). A property of the socket, as every aedes connection gets it at its
 * CONNECT: one lookup a packet, on one shape.
 */
const EARLY = Symbol('warden.beforeConnack')
type Connecting = NodeJS.WritableStream & { [EARLY]?: Kept, writableLength?: number }

/**
 * What may wait for a connection's CONNACK: `maxBytes` (limits.maxOutgoingBytes; 0: no bound) of topics and payloads
 * with what waits on its socket, past which `over` is called (it cuts the client off) and nothing more is kept
 */
export interface KeptBound {
  readonly maxBytes: number
  over (stream: NodeJS.WritableStream, bytes: number): void
}

interface Kept {
  /** null: nothing yet */
  packets: Array<[mqttPacket.Packet, WriteOptions | undefined]> | null
  bytes: number
  /** past the bound, or refused: nothing more is kept, nor written after the CONNACK */
  cut: boolean
  readonly bound: KeptBound | undefined
}

/** an accepted CONNACK: return code 0 (3.1.1) or reason code 0 (MQTT 5) */
const accepted = (p: mqttPacket.Packet): boolean => ((p as { returnCode?: number }).returnCode ?? (p as { reasonCode?: number }).reasonCode ?? 0) === 0

/** what a kept packet costs against the bound, as outbound-window.ts counts a held one: its topic and payload */
function sizeOf (packet: mqttPacket.Packet): number {
  const p = packet as { topic?: string, payload?: string | Buffer }
  return (p.topic?.length ?? 0) + (p.payload?.length ?? 0)
}

function beforeConnack (
  packet: mqttPacket.Packet, stream: Connecting, opts: WriteOptions | undefined, kept: Kept,
  writePacket: (packet: mqttPacket.Packet, stream: NodeJS.WritableStream, opts?: WriteOptions) => boolean
): boolean {
  if (packet.cmd !== 'connack') {
    if (kept.cut) return true
    if (kept.packets === null) kept.packets = [[packet, opts]]
    else kept.packets.push([packet, opts])
    const bound = kept.bound
    if (bound !== undefined && bound.maxBytes > 0) {
      kept.bytes += sizeOf(packet)
      const waiting = kept.bytes + (stream.writableLength ?? 0)
      if (waiting > bound.maxBytes) {
        kept.cut = true
        bound.over(stream, waiting)
      }
    }
    return true // as aedes's write takes it: sent, the connection not full
  }
  // a refused CONNECT's connection closes: what was kept for it goes with it (keptAtClose)
  const ok = !kept.cut && accepted(packet)
  if (ok) stream[EARLY] = undefined
  else kept.cut = true
  const r = writePacket(packet, stream, opts)
  if (ok && kept.packets !== null) for (const [p, o] of kept.packets) writePacket(p, stream, o)
  return r
}

/**
 * From now until its CONNACK, nothing is written to `stream` but the CONNACK: other packets wait for it, in order,
 * and are written right after an accepted one (MQTT-3.2.0-1); what waits so counts against `bound`. Called as the
 * CONNECT is read.
 */
export function markBeforeConnack (stream: NodeJS.WritableStream, bound?: KeptBound): void {
  wrap()
  ;(stream as Connecting)[EARLY] = { packets: null, bytes: 0, cut: false, bound }
}

/** the packets kept for `stream`'s CONNACK and never written (it closed before an accepted one, or was cut off) */
export function keptAtClose (stream: NodeJS.WritableStream): mqttPacket.Packet[] {
  const kept = (stream as Connecting)[EARLY]
  if (kept === undefined) return []
  // what aedes still writes to it while it closes goes nowhere, as before
  kept.cut = true
  const packets = kept.packets
  kept.packets = null
  return packets === null ? [] : packets.map(([p]) => p)
}

/** routes every written packet of command `cmd` through `rewrite` (the first one given per command stays);
 * returns mqtt-packet's own writeToStream */
export function rewriteWrites (cmd: string, rewrite: PacketRewrite): WriteToStream {
  const write = wrap()
  if (!rewrites.has(cmd)) rewrites.set(cmd, rewrite)
  return write
}

/** calls `h` with the stream before any packet of `cmds` is written to it (the first `h` given stays) */
export function holdWritesOf (cmds: readonly string[], h: (stream: NodeJS.WritableStream) => void): void {
  wrap()
  hold ??= h
  for (const cmd of cmds) held.add(cmd)
}

/** PUBLISHes for which `s` is true are not written; the write answers as one that went out (the first `s` given stays) */
export function skipWrites (s: (packet: mqttPacket.Packet) => boolean): void {
  wrap()
  skip ??= s
}
