// Turns one received MQTT message into the JSON record the sink writes, without trusting the payload
// (the payload format and its parser are @warden/common's telemetry-format.ts).
import { parseDeviceMessage } from '@warden/common'

export interface MessageRecord {
  topic: string
  qos: number
  retain: boolean
  dup: boolean
  receivedAt: number
  deviceId: string | null
  seq: number | null
  latencyMs: number | null
  /** Parsed JSON, or the payload as text when it is not JSON. */
  payload: unknown
}

export interface ParsedMessage {
  record: MessageRecord
  /** Producer process identity: a changed run with a lower seq means the producer started over. */
  run: string | undefined
  /** Not JSON, or on a telemetry topic without a usable seq. */
  malformed: boolean
}

export interface PacketFlags {
  qos: number
  retain: boolean
  dup: boolean
}

export function parseMessage (topic: string, payload: Uint8Array, flags: PacketFlags, receivedAt: number): ParsedMessage {
  const { body, deviceId, run, seq, ts, malformed } = parseDeviceMessage(topic, payload)
  return {
    record: {
      topic,
      qos: flags.qos,
      retain: flags.retain,
      dup: flags.dup,
      receivedAt,
      deviceId,
      seq,
      // a retained message was published long ago; its age is not transit latency
      latencyMs: seq !== null && ts !== null && !flags.retain ? receivedAt - ts : null,
      payload: body
    },
    run,
    malformed
  }
}
