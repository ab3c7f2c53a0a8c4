// Per-connection protections installed on every aedes client, whatever the listener: the packet guard in
// front of the parser, the bound on bytes waiting to be written to a client that does not read, and
// Warden's duplicate filter in place of aedes's.
import type { Client } from 'aedes'
import { disableHighWaterDedupe } from './forward-dedupe.js'
import { PacketGuard, type GuardViolation } from './packet-guard.js'

export interface ConnectionGuardOptions {
  maxPacketBytes: number
  /** 0: no bound of Warden's own (aedes's drainTimeout still applies) */
  maxOutgoingBytes: number
  onMalformed (client: Client, v: GuardViolation): void
  onSlowConsumer (client: Client, bufferedBytes: number): void
}

interface Parser { parse (buf: Buffer): number }
type Write = (chunk: unknown, encoding?: unknown, cb?: unknown) => boolean
interface Conn { write: Write, writableLength: number, destroyed: boolean, destroy (err?: Error): void }

export function guardConnection (client: Client, opts: ConnectionGuardOptions): void {
  disableHighWaterDedupe(client)
  const conn = client.conn as unknown as Conn

  const parser = (client as unknown as { _parser: Parser })._parser
  const parse = parser.parse.bind(parser)
  const guard = new PacketGuard(opts.maxPacketBytes)
  parser.parse = (buf: Buffer): number => {
    const v = guard.feed(buf)
    if (v === null) return parse(buf)
    if (!conn.destroyed) {
      opts.onMalformed(client, v)
      conn.destroy()
    }
    return 0
  }

  if (opts.maxOutgoingBytes > 0) {
    // aedes waits for 'drain' whenever write() says the buffer is full, holding one of the message bus's
    // few delivery slots meanwhile: a handful of frozen subscribers would stall everyone until
    // drainTimeout. Below the bound, tell aedes all is well (the stream buffers it); past it, the client is
    // too slow to keep: disconnect it (its persistent session keeps the QoS 1/2 messages for later).
    const write = conn.write.bind(conn) as Write
    conn.write = (chunk, encoding, cb) => {
      if (write(chunk, encoding, cb)) return true
      if (conn.writableLength > opts.maxOutgoingBytes && !conn.destroyed) {
        opts.onSlowConsumer(client, conn.writableLength)
        conn.destroy()
      }
      return true
    }
  }
}
