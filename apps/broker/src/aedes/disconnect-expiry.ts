// MQTT-3.14.2-2: a DISCONNECT may change the Session Expiry Interval, except from 0 (the CONNECT's) to more —
// a protocol error, which the server answers with DISCONNECT 0x82. aedes 2.0.0-beta.1 ignores such a value
// (the session still ends with the connection) but closes without telling the client; Warden tells it first.
import type { Client } from 'aedes'
import mqttPacket from 'mqtt-packet'
import { connectSessionExpiryOf, connOf, parserOf } from './accessors.js'
import { V5 } from '../hooks/reason-codes.js'

type ParserWithPrepend = ReturnType<typeof parserOf> & {
  prependListener (event: 'packet', l: (packet: { cmd: string, properties?: { sessionExpiryInterval?: number } }) => void): void
}

/** per connection: watches DISCONNECT before aedes handles it (and closes the connection) */
export function answerBadSessionExpiry (client: Client): void {
  (parserOf(client) as ParserWithPrepend).prependListener('packet', (packet) => {
    if (packet.cmd !== 'disconnect' || !((packet.properties?.sessionExpiryInterval ?? 0) > 0) || connectSessionExpiryOf(client) !== 0) return
    const conn = connOf(client)
    if (conn.destroyed) return
    mqttPacket.writeToStream({ cmd: 'disconnect', reasonCode: V5.PROTOCOL_ERROR }, conn, { protocolVersion: 5 })
    // aedes destroys the connection as soon as this listener returns: out now, not at the next tick
    while (conn.writableCorked > 0) conn.uncork()
  })
}
