// The first packet a client gets is its CONNACK (MQTT-3.2.0-1; MQTT 5 3.2.0). aedes 2.0.0-beta.1 restores a resumed
// session's subscriptions (restoreSubs) before it stores the will and sends the CONNACK, and writes to a client
// that is still connecting (lib/write.js): a message published in between reached the client before its CONNACK
// (aedes #80 was the retained form of it). MQTT.js 5 takes such a PUBLISH as a client not connected: it keeps the
// PUBACK for later and works through nothing after it, the CONNACK included, until its connect timeout closes the
// connection — and the next attempt meets the same while the devices publish. A consumer resuming its session on a
// cluster under load was kept out ~40 s over four attempts so (cluster-reload). Paho closes the connection at once
// ("received msg that was not CONNACK"). Such packets now wait for the CONNACK and follow it, in order
// (packet-writes.ts); a refused CONNECT's go with its connection. They wait in memory to be written to the
// connection as bytes on its socket do, and count against the same bound (limits.maxOutgoingBytes): past it the
// client is cut off, its session keeping its QoS 1/2 messages — a flood matching the session's subscriptions
// while the store was slow to take its will was otherwise held in full. What was kept for a connection that closed
// before its CONNACK was never sent: its QoS 1/2 messages, read back from the queue with their packet ids, are a
// first delivery, DUP 0 (never-sent.ts), as those the outbound window held are.
import type { Duplex } from 'node:stream'
import type { Aedes, Client } from 'aedes'
import { clientOfConn, clientsOf, connOf } from './accessors.js'
import { onConnectionClose, watchClose } from './close-hooks.js'
import { brokerInternals } from './internals.js'
import { markNeverSent } from './never-sent.js'
import { keptAtClose, markBeforeConnack, type KeptBound } from './packet-writes.js'
import { fn, patch } from './patch.js'
import { storeOf, type StoredPacket } from './store.js'

export interface ConnackFirstOptions {
  /** limits.maxOutgoingBytes (0: no bound) */
  maxOutgoingBytes: number
  /** audits the cut-off (delivery: slow-consumer) */
  onSlowConsumer (client: Client, bytes: number): void
}

export function connackFirst (broker: Aedes, { maxOutgoingBytes, onSlowConsumer }: ConnackFirstOptions): void {
  // one for every connection of the broker
  const bound: KeptBound | undefined = maxOutgoingBytes > 0
    ? {
        maxBytes: maxOutgoingBytes,
        over (stream, bytes) {
          const conn = stream as Duplex
          if (conn.destroyed) return
          onSlowConsumer(clientOfConn(conn) as Client, bytes)
          conn.destroy()
        }
      }
    : undefined
  const b = brokerInternals(broker)
  onConnectionClose(broker, (conn) => {
    const kept = keptAtClose(conn)
    if (kept.length === 0) return
    const client = clientOfConn(conn) as Client | undefined
    if (client === undefined) return
    // taken over on this process: the new connection may have read the queue already, and be sending them
    const now = clientsOf(broker)[client.id]
    if (now !== undefined && now !== client) return
    const given = kept.filter((p) => p.cmd === 'publish' && p.qos > 0 && p.messageId !== undefined)
    markNeverSent(storeOf(b.persistence), client.id, given as unknown as StoredPacket[])
  })
  patch(b, 'preConnect', fn(3), (preConnect) => (client, packet, cb) => {
    const conn = connOf(client)
    markBeforeConnack(conn, bound)
    watchClose(broker, conn)
    preConnect(client, packet, cb)
  }, 'aedes 2.0.0-beta.1 writes a resumed session\'s live messages before its CONNACK', 'broker')
}
