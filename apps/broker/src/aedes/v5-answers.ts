// The MQTT 5 answers aedes 2.0.0-beta.1 cannot be made to give through its hooks, written by Warden on the
// client's connection: PUBACK/PUBREC with a code other than 0x87 (its authorizePublish answers every error
// with 0x87), and CONNACK with a code other than its map of the 3.1.1 return codes (3 is always 0x88). The
// codes themselves are chosen in hooks/reason-codes.ts; this file only puts them on the wire.
import type { Client, PublishPacket } from 'aedes'
import mqttPacket from 'mqtt-packet'
import { connOf } from './accessors.js'
import { clientInternals } from './internals.js'
import { writeOutNow } from './client-internals.js'

const V5_WRITE = { protocolVersion: 5 }

/** aedes's own mark (lib/handlers/publish.js): a publish already answered, neither acknowledged nor published */
interface Answered { _notAuthorized?: boolean }

export const isMqtt5 = (client: Client): boolean => clientInternals(client).version === 5

/** aedes neither acknowledges nor publishes this publish of a v5 client: Warden has answered it */
export const markAnswered = (packet: PublishPacket): void => { (packet as Answered)._notAuthorized = true }

/**
 * Answers a refused publish of a v5 client with `reasonCode` (QoS 1 PUBACK, QoS 2 PUBREC; QoS 0 has no
 * answer) and keeps aedes from acknowledging or publishing it. The Reason String is left out when the
 * client asked for no problem information (MQTT-3.1.2-29), as aedes does for its own 0x87.
 */
export function answerRefusedPublish (client: Client, packet: PublishPacket, reasonCode: number, reasonString: string): void {
  markAnswered(packet)
  if (packet.qos === 0) return
  const ack: mqttPacket.IPubackPacket | mqttPacket.IPubrecPacket = {
    cmd: packet.qos === 1 ? 'puback' : 'pubrec',
    messageId: packet.messageId ?? 0,
    reasonCode,
    ...(clientInternals(client)._requestProblemInformation !== false ? { properties: { reasonString } } : {})
  }
  const conn = connOf(client)
  if (!conn.destroyed) mqttPacket.writeToStream(ack, conn, V5_WRITE)
}

/**
 * DISCONNECT with `reasonCode`, then close (aedes 2's own server-side disconnect; the will is published);
 * resolves once the connection is closed. Once: the other packets of the read that refused it (a burst past
 * the publish rate) are refused too.
 */
export function disconnectWith (client: Client, reasonCode: number): Promise<void> {
  return new Promise((resolve) => {
    const conn = connOf(client)
    if (client.closed || conn.destroyed) { resolve(); return }
    conn.once('close', () => resolve())
    if (client.disconnectReasonCode !== null) return
    // between CONNACK and the end of aedes's connect steps (the stored queue being sent) aedes would close
    // without a DISCONNECT: wait for them (a connect that fails closes the client anyway)
    if (client.connected) client.disconnect({ reasonCode }, () => {})
    else client.once('connected', () => { void disconnectWith(client, reasonCode) })
  })
}

/**
 * DISCONNECT with `reasonCode` to an MQTT 5 client between its CONNACK and the end of aedes's connect steps (its
 * stored queue being sent), where aedes's own client.disconnect writes nothing; it is then neither connecting
 * nor connected, so aedes writes nothing after it (lib/write.js). The caller closes it. Any other client: nothing.
 */
export function disconnectBeforeReady (client: Client, reasonCode: number): void {
  const c = clientInternals(client)
  if (c.version !== 5 || client.connected || client.closed || !c.connackSent || !c.connecting) return
  const conn = connOf(client)
  if (!conn.destroyed) {
    mqttPacket.writeToStream({ cmd: 'disconnect', reasonCode }, conn, V5_WRITE)
    // out now, behind what was held: aedes's close, next, destroys the socket with what is still corked
    writeOutNow(conn)
  }
  c.connecting = false
}

/**
 * Ends a connection whose session a newer CONNECT of its id took: DISCONNECT `reasonCode` to an MQTT 5 client
 * that has its CONNACK (connected, or still in aedes's connect steps), then the close; resolves once closed.
 */
export function closeTakenOver (client: Client, reasonCode: number): Promise<void> {
  return new Promise((resolve) => {
    if (client.closed) { resolve(); return }
    if (client.connected) { client.disconnect({ reasonCode }, () => resolve()); return }
    disconnectBeforeReady(client, reasonCode)
    client.close(() => resolve())
  })
}

/**
 * Refuses a v5 CONNECT with `reasonCode`. Written here, then aedes's own CONNACK is suppressed: aedes writes
 * nothing to a client that is neither connecting nor connected (lib/write.js), and closes it as it would
 * after its own refusal.
 */
export function refuseConnect (client: Client, reasonCode: number): void {
  const conn = connOf(client)
  if (!conn.destroyed) mqttPacket.writeToStream({ cmd: 'connack', sessionPresent: false, reasonCode }, conn, V5_WRITE)
  clientInternals(client).connecting = false
}
