// @warden/common's telemetry format: what the producer encodes, the consumer's parser reads back, and what
// it makes of payloads it cannot trust.
import { describe, expect, it } from 'vitest'
import { deviceIdFromTopic, encodeStatus, encodeTelemetry, parseDeviceMessage, statusTopic, telemetryTopic } from '../../packages/common/src/index.js'

const readings = { temperature: 21.5, humidity: 40, battery: 99 }

describe('encode, then parse', () => {
  it('reads back every field of a telemetry message', () => {
    const payload = encodeTelemetry({ deviceId: 'device-01', run: 'r1', seq: 7, ts: 1700000000000, readings })
    expect(payload).toBe('{"deviceId":"device-01","run":"r1","seq":7,"ts":1700000000000,"readings":{"temperature":21.5,"humidity":40,"battery":99}}')
    expect(parseDeviceMessage(telemetryTopic('device-01'), Buffer.from(payload))).toEqual({
      body: { deviceId: 'device-01', run: 'r1', seq: 7, ts: 1700000000000, readings },
      isJson: true, deviceId: 'device-01', run: 'r1', seq: 7, ts: 1700000000000, state: null, malformed: false
    })
  })

  it('reads back a status message', () => {
    const payload = encodeStatus({ deviceId: 'device-02', state: 'offline', run: 'r2', ts: 5 })
    expect(parseDeviceMessage(statusTopic('device-02'), payload))
      .toMatchObject({ deviceId: 'device-02', state: 'offline', run: 'r2', ts: 5, seq: null, malformed: false })
  })
})

describe('parseDeviceMessage: untrusted payloads', () => {
  it.each<[string, string, string, object]>([
    ['not JSON', 'devices/d/telemetry', 'hello', { isJson: false, body: 'hello', deviceId: 'd', malformed: true }],
    ['no seq on telemetry', 'devices/d/telemetry', '{"ts":1}', { seq: null, deviceId: 'd', malformed: true }],
    ['a negative seq', 'devices/d/telemetry', '{"seq":-1}', { seq: null, malformed: true }],
    ['a fractional seq', 'devices/d/telemetry', '{"seq":1.5}', { seq: null, malformed: true }],
    ['no device anywhere', 'plant/x/telemetry', '{"seq":1}', { deviceId: null, malformed: true }],
    ['an array body', 'devices/d/status', '[1,2]', { body: [1, 2], deviceId: 'd', malformed: false }],
    ['a bad state', 'devices/d/status', '{"state":"gone"}', { state: null, malformed: false }],
    ['a non-numeric ts', 'devices/d/telemetry', '{"seq":0,"ts":"now"}', { seq: 0, ts: null, malformed: false }],
    ['the payload device wins over the topic', 'devices/d/telemetry', '{"seq":0,"deviceId":"e"}', { deviceId: 'e' }]
  ])('%s', (_what, topic, payload, want) => {
    expect(parseDeviceMessage(topic, new TextEncoder().encode(payload))).toMatchObject(want)
  })

  it.each([['devices/a/telemetry', 'a'], ['devices//x', null], ['devices', null], ['other/a/telemetry', null]])('deviceIdFromTopic(%j) → %j', (topic, want) => {
    expect(deviceIdFromTopic(topic)).toBe(want)
  })
})
