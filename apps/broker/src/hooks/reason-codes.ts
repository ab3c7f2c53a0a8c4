// What an MQTT 5 client is told when Warden refuses it: one table from a refusal's reason to the v5 reason
// code of the packet that carries it (PUBACK/PUBREC, DISCONNECT, CONNACK). MQTT 3.1.1 clients keep their
// return codes (the 3.1.1 code is beside each refusal); the README's table is this file.
import type { AuthenticateError } from 'aedes'
import type { DenyReason } from '../policy/decision.js'

/** MQTT 5.0 reason codes Warden sends (section 2.4) */
export const V5 = {
  UNSPECIFIED_ERROR: 0x80,
  PROTOCOL_ERROR: 0x82,
  CLIENT_IDENTIFIER_NOT_VALID: 0x85,
  BAD_USERNAME_OR_PASSWORD: 0x86,
  NOT_AUTHORIZED: 0x87,
  SERVER_UNAVAILABLE: 0x88,
  SERVER_BUSY: 0x89,
  BANNED: 0x8A,
  SERVER_SHUTTING_DOWN: 0x8B,
  SESSION_TAKEN_OVER: 0x8E,
  TOPIC_NAME_INVALID: 0x90,
  RECEIVE_MAXIMUM_EXCEEDED: 0x93,
  PACKET_TOO_LARGE: 0x95,
  MESSAGE_RATE_TOO_HIGH: 0x96,
  QUOTA_EXCEEDED: 0x97,
  PAYLOAD_FORMAT_INVALID: 0x99,
  CONNECTION_RATE_EXCEEDED: 0x9F
} as const

/**
 * The Reason String sent with a code. It goes to the client that was refused, so it says no more than the
 * code does: never the topic's owner, the filter that decided or the schema's complaint (those are audited).
 */
const REASON_STRINGS: Readonly<Record<number, string>> = {
  [V5.NOT_AUTHORIZED]: 'not authorized',
  [V5.TOPIC_NAME_INVALID]: 'topic name invalid',
  [V5.QUOTA_EXCEEDED]: 'quota exceeded',
  [V5.PAYLOAD_FORMAT_INVALID]: 'payload format invalid',
  [V5.MESSAGE_RATE_TOO_HIGH]: 'message rate too high',
  [V5.PACKET_TOO_LARGE]: 'packet too large'
}

export const reasonStringOf = (code: number): string => REASON_STRINGS[code] ?? 'refused'

/** PUBACK/PUBREC code of a publish refused in `drop` mode (the connection stays up) */
export function publishReasonCode (reason: DenyReason): number {
  switch (reason) {
    case 'schema-violation': return V5.PAYLOAD_FORMAT_INVALID
    case 'publish-rate':
    case 'retained-quota':
    case 'queue-full': return V5.QUOTA_EXCEEDED
    case 'topic-too-long': return V5.TOPIC_NAME_INVALID
    default: return V5.NOT_AUTHORIZED
  }
}

/** DISCONNECT code of a publish refused in `disconnect` mode */
export function disconnectReasonCode (reason: DenyReason): number {
  switch (reason) {
    case 'publish-rate': return V5.MESSAGE_RATE_TOO_HIGH
    case 'packet-too-large': return V5.PACKET_TOO_LARGE
    default: return V5.NOT_AUTHORIZED
  }
}

/** a refused CONNECT: its 3.1.1 return code, and the v5 code where aedes's own mapping of it is wrong */
export type ConnectRefusal = AuthenticateError & { v5ReasonCode?: number }

/**
 * aedes 2 answers a v5 client the code it maps the 3.1.1 return code to (2 → 0x85, 3 → 0x88, 4 → 0x86,
 * 5 → 0x87); `v5` names the code when that map is wrong for the refusal (3 is too coarse for MQTT 5).
 */
export function connectRefusal (returnCode: 2 | 3 | 4 | 5, message: string, v5?: number): ConnectRefusal {
  const err = Object.assign(new Error(message), { returnCode }) as ConnectRefusal
  if (v5 !== undefined) err.v5ReasonCode = v5
  return err
}
