// MQTT-3.14.2-2: a DISCONNECT may change the Session Expiry Interval, except from 0 (the CONNECT's) to more —
// a protocol error, which the server answers with DISCONNECT 0x82. aedes 2.0.0-beta.1 ignores such a value
// (the session still ends with the connection) but closes without telling the client; Warden tells it first.
import type { Client } from 'aedes'
import mqttPacket from 'mqtt-packet'
import { connectSessionExpiryOf, connOf } from './accessors.js'

/** MQTT 5 reason code 0x82, Protocol Error (hooks/reason-codes.ts has the table; the adapter does not import hooks) */
const PROTOCOL_ERROR = 0x82

/** an MQTT 5 client's packet, before aedes handles it (v5-packets.ts): aedes closes on a DISCONNECT once it returns */
export function answerBadSessionExpiry (client: Client, packet: mqttPacket.Packet): void {
  if (packet.cmd !== 'disconnect' || !((packet.properties?.sessionExpiryInterval ?? 0) > 0) || connectSessionExpiryOf(client) !== 0) return
  const conn = connOf(client)
  if (conn.destroyed) return
  mqttPacket.writeToStream({ cmd: 'disconnect', reasonCode: PROTOCOL_ERROR }, conn, { protocolVersion: 5 })
  // aedes destroys the connection as soon as this listener returns: out now, not at the next tick
  while (conn.writableCorked > 0) conn.uncork()
}
