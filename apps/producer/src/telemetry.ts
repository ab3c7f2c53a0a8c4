// Simulated sensor readings: a seeded random walk, so a test or a demo can replay a device exactly.
import type { TelemetryReadings } from '@warden/common'

/** what one telemetry message carries (the format is @warden/common's telemetry-format.ts) */
export type Readings = TelemetryReadings

export interface ReadingGenerator {
  next (): Readings
}

export interface ReadingOptions {
  /** Same seed, same readings; defaults to a random seed. */
  seed?: number
}

// roughly 15 %/hour at the default 2 messages/second, so a demo shows a visible trend without emptying
const BATTERY_DRAIN_PER_READING = 0.002

/** mulberry32: tiny and fast; fine for simulated noise, never for anything secret. */
export function createRandom (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** FNV-1a, so a device name gives a stable seed and each device keeps its own "room" across restarts. */
export function seedFromString (text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

export function createReadingGenerator ({ seed = Math.floor(Math.random() * 2 ** 32) }: ReadingOptions = {}): ReadingGenerator {
  const random = createRandom(seed)
  const gauss = (): number => {
    // Box-Muller; 1 - random() keeps log() away from 0
    return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random())
  }
  const baseTemperature = 18 + random() * 8
  const baseHumidity = 35 + random() * 25
  let temperature = baseTemperature
  let humidity = baseHumidity
  let battery = 80 + random() * 20

  return {
    next () {
      // mean-reverting walk: drifts like a real room but never runs away during a long demo
      temperature += (baseTemperature - temperature) * 0.01 + gauss() * 0.05
      humidity = clamp(humidity + (baseHumidity - humidity) * 0.01 + gauss() * 0.2, 0, 100)
      battery = Math.max(0, battery - BATTERY_DRAIN_PER_READING * (0.5 + random()))
      return { temperature: round(temperature, 2), humidity: round(humidity, 1), battery: round(battery, 3) }
    }
  }
}

function clamp (value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value))
}

function round (value: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(value * f) / f
}
