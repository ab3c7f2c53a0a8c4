// Turns one received MQTT message into the JSON record the sink writes, without trusting the payload.

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
  const text = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8')
  let body: unknown = text
  let isJson = true
  try {
    body = JSON.parse(text)
  } catch {
    isJson = false
  }
  const fields = isRecord(body) ? body : {}
  const seq = isSeq(fields.seq) ? fields.seq : null
  const ts = typeof fields.ts === 'number' && Number.isFinite(fields.ts) ? fields.ts : null
  const deviceId = typeof fields.deviceId === 'string' && fields.deviceId !== '' ? fields.deviceId : deviceIdFromTopic(topic)
  const isTelemetry = topic.endsWith('/telemetry')
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
    run: typeof fields.run === 'string' ? fields.run : undefined,
    malformed: !isJson || (isTelemetry && (seq === null || deviceId === null))
  }
}

/** `devices/<id>/...` names its device even when the payload cannot. */
function deviceIdFromTopic (topic: string): string | null {
  const levels = topic.split('/')
  return levels[0] === 'devices' && levels[1] !== undefined && levels[1] !== '' ? levels[1] : null
}

function isSeq (value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}
