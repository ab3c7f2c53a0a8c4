// Readings generator, payload shapes, pacing and back-off: the producer's pure parts.
import { describe, expect, it } from 'vitest'
import { createReadingGenerator, seedFromString } from '../../apps/producer/src/telemetry.js'
import { createBackoff, encodeStatus, encodeTelemetry, statusTopic, telemetryTopic } from '../../packages/common/src/index.js'
import { createPacer, MIN_TICK_MS } from '../../apps/producer/src/pacer.js'

describe('createReadingGenerator', () => {
  const take = (seed: number, n: number) => {
    const g = createReadingGenerator({ seed })
    return Array.from({ length: n }, () => g.next())
  }

  it('replays the same readings for the same seed', () => {
    expect(take(42, 100)).toEqual(take(42, 100))
    expect(take(42, 100)).not.toEqual(take(43, 100))
  })

  it('drifts slowly and stays in realistic ranges over a long run', () => {
    const readings = take(7, 20_000)
    const bad = readings.filter((r, i) => {
      const prev = readings[i - 1] ?? r
      return r.temperature < 5 || r.temperature > 40 || r.humidity < 0 || r.humidity > 100 || r.battery < 0 ||
        Math.abs(r.temperature - prev.temperature) > 0.5 || r.battery > prev.battery
    })
    expect(bad).toEqual([])
    const first = readings[0]!
    const last = readings.at(-1)!
    expect(last.battery).toBeLessThan(first.battery)
  })

  it('gives each device name a stable seed', () => {
    expect(seedFromString('device-01')).toBe(seedFromString('device-01'))
    expect(seedFromString('device-01')).not.toBe(seedFromString('device-02'))
  })
})

describe('messages', () => {
  it('encodes telemetry and status with the documented fields', () => {
    const readings = { temperature: 21.5, humidity: 40.1, battery: 99.5 }
    expect(JSON.parse(encodeTelemetry({ deviceId: 'device-01', run: 'r1', seq: 3, ts: 1700000000000.5, readings })))
      .toEqual({ deviceId: 'device-01', run: 'r1', seq: 3, ts: 1700000000000.5, readings })
    expect(JSON.parse(encodeStatus({ deviceId: 'device-01', state: 'offline', run: 'r1', ts: 5 })))
      .toEqual({ deviceId: 'device-01', state: 'offline', run: 'r1', ts: 5 })
    expect(telemetryTopic('device-01')).toBe('devices/device-01/telemetry')
    expect(statusTopic('device-01')).toBe('devices/device-01/status')
  })
})

describe('createPacer', () => {
  const run = (rate: number, seconds: number, jitterMs = 0) => {
    const pacer = createPacer(rate, 0)
    let t = 0
    let sent = 0
    while (t < seconds * 1000) {
      t += pacer.tickMs + (t % 3 === 0 ? jitterMs : -jitterMs / 2)
      sent += pacer.due(t)
    }
    return { sent, tickMs: pacer.tickMs }
  }

  it.each([
    [2, 10, 20],
    [0.5, 20, 10],
    [1000, 2, 2000],
    [5000, 1, 5000]
  ])('rate %d/s for %d s sends about %d', (rate, seconds, expected) => {
    const { sent, tickMs } = run(rate, seconds, 1)
    expect(tickMs).toBeGreaterThanOrEqual(MIN_TICK_MS)
    expect(Math.abs(sent - expected)).toBeLessThanOrEqual(Math.max(1, expected * 0.02))
  })

  it('owes nothing for time before reset, and caps catch-up after a stall', () => {
    const pacer = createPacer(10, 0)
    pacer.reset(60_000)
    expect(pacer.due(60_100)).toBe(1)
    expect(pacer.due(120_000)).toBe(10)
  })
})

describe('createBackoff', () => {
  it('doubles up to the cap and starts over on reset', () => {
    const b = createBackoff({ minMs: 1000, maxMs: 5000, jitter: 0 })
    expect(b.current).toBe(1000)
    expect([b.fail(), b.fail(), b.fail(), b.fail()]).toEqual([2000, 4000, 5000, 5000])
    expect(b.reset()).toBe(1000)
    expect(b.current).toBe(1000)
  })
})
