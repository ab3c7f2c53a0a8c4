// Topics and payloads a device publishes; the consumer parses exactly these shapes.
import type { Readings } from './telemetry.js'

export interface TelemetryMessage {
  deviceId: string
  /** Random per producer process, so a consumer can tell a restart from a gap. */
  run: string
  seq: number
  ts: number
  readings: Readings
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

export function encodeTelemetry ({ deviceId, run, seq, ts, readings }: TelemetryMessage): string {
  // explicit field order keeps payloads byte-stable for a given input
  return JSON.stringify({ deviceId, run, seq, ts, readings })
}

export function encodeStatus ({ deviceId, state, run, ts }: StatusMessage): string {
  return JSON.stringify({ deviceId, state, run, ts })
}
