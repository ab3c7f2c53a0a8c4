// The messages a producer device publishes and a consumer reads: topics, payloads, and the one parser of them.
import { isRecord } from './config-file.js'

export interface TelemetryReadings {
  temperature: number
  humidity: number
  battery: number
}

export interface TelemetryMessage {
  deviceId: string
  /** Random per producer process, so a consumer can tell a restart from a gap. */
  run: string
  seq: number
  ts: number
  readings: TelemetryReadings
}

export type DeviceState = 'online' | 'offline'

export interface StatusMessage {
  deviceId: string
  state: DeviceState
  run: string
  ts: number
}

export function telemetryTopic (username: string): string {
  return `devices/${username}/telemetry`
}

export function statusTopic (username: string): string {
  return `devices/${username}/status`
}

export function isTelemetryTopic (topic: string): boolean {
  return topic.endsWith('/telemetry')
}

/** `devices/<id>/...` names its device even when the payload cannot. */
export function deviceIdFromTopic (topic: string): string | null {
  const levels = topic.split('/')
  return levels[0] === 'devices' && levels[1] !== undefined && levels[1] !== '' ? levels[1] : null
}

export function encodeTelemetry ({ deviceId, run, seq, ts, readings }: TelemetryMessage): string {
  // explicit field order keeps payloads byte-stable for a given input
  return JSON.stringify({ deviceId, run, seq, ts, readings })
}

export function encodeStatus ({ deviceId, state, run, ts }: StatusMessage): string {
  return JSON.stringify({ deviceId, state, run, ts })
}

/** What a received payload says, without trusting it: each field null (or undefined) when missing or unusable. */
export interface ParsedDeviceMessage {
  /** Parsed JSON, or the payload as text when it is not JSON. */
  body: unknown
  isJson: boolean
  /** from the payload, else from the topic */
  deviceId: string | null
  run: string | undefined
  /** a safe integer >= 0 */
  seq: number | null
  ts: number | null
  state: DeviceState | null
  /** Not JSON, or on a telemetry topic without a usable seq or device. */
  malformed: boolean
}

/** Parses one payload of a producer topic (telemetry or status); never throws. */
export function parseDeviceMessage (topic: string, payload: Uint8Array | string): ParsedDeviceMessage {
  const text = typeof payload === 'string' ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8')
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
  const state = fields.state === 'online' || fields.state === 'offline' ? fields.state : null
  return {
    body,
    isJson,
    deviceId,
    run: typeof fields.run === 'string' ? fields.run : undefined,
    seq,
    ts,
    state,
    malformed: !isJson || (isTelemetryTopic(topic) && (seq === null || deviceId === null))
  }
}

function isSeq (value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}
