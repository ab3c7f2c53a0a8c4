// Message records: telemetry, status, and payloads that are not what they claim to be.
import { describe, expect, it } from 'vitest'
import { parseMessage } from '../../apps/consumer/src/message-record.js'

const flags = { qos: 1, retain: false, dup: false }
const at = 1_700_000_000_500
const parse = (topic: string, payload: string | Uint8Array, f = flags) =>
  parseMessage(topic, typeof payload === 'string' ? Buffer.from(payload) : payload, f, at)

describe('message record', () => {
  it('parses telemetry and computes latency', () => {
    const body = { deviceId: 'device-01', run: 'r1', seq: 7, ts: at - 40, readings: { t: 21.5 } }
    expect(parse('devices/device-01/telemetry', JSON.stringify(body))).toEqual({
      record: {
        topic: 'devices/device-01/telemetry', qos: 1, retain: false, dup: false, receivedAt: at, deviceId: 'device-01', seq: 7, latencyMs: 40, payload: body
      },
      run: 'r1',
      malformed: false
    })
  })

  it('keeps status messages untracked and without latency', () => {
    const status = { deviceId: 'device-02', state: 'online', ts: at - 1000 }
    const { record, malformed } = parse('devices/device-02/status', JSON.stringify(status), { qos: 1, retain: true, dup: false })
    expect(malformed).toBe(false)
    expect(record).toMatchObject({ deviceId: 'device-02', seq: null, latencyMs: null, retain: true, payload: status })
  })

  it('does not treat the age of a retained telemetry message as latency', () => {
    const { record } = parse('devices/d/telemetry', JSON.stringify({ deviceId: 'd', seq: 1, ts: at - 99999 }), { qos: 0, retain: true, dup: false })
    expect(record.latencyMs).toBeNull()
  })

  it.each([
    { name: 'not JSON', payload: 'hello {', topic: 'devices/d9/telemetry', want: { payload: 'hello {', deviceId: 'd9', seq: null } },
    { name: 'binary', payload: new Uint8Array([0xff, 0x00, 0xfe]), topic: 'devices/d9/status', want: { deviceId: 'd9', seq: null } },
    { name: 'empty', payload: '', topic: 'devices/d9/telemetry', want: { payload: '', seq: null } },
    { name: 'telemetry without seq', payload: '{"deviceId":"d9","ts":1}', topic: 'devices/d9/telemetry', want: { seq: null } },
    { name: 'telemetry with a negative seq', payload: '{"deviceId":"d9","seq":-1}', topic: 'devices/d9/telemetry', want: { seq: null } },
    { name: 'telemetry with a string seq', payload: '{"deviceId":"d9","seq":"3"}', topic: 'devices/d9/telemetry', want: { seq: null } },
    { name: 'a JSON array', payload: '[1,2]', topic: 'devices/d9/telemetry', want: { payload: [1, 2], seq: null } }
  ])('flags $name as malformed without throwing', ({ payload, topic, want }) => {
    const parsed = parse(topic, payload)
    expect(parsed.malformed).toBe(true)
    expect(parsed.record).toMatchObject({ latencyMs: null, ...want })
  })

  it('falls back to the topic for the device id, and to null outside devices/', () => {
    expect(parse('devices/d3/telemetry', '{"seq":1,"ts":1}').record.deviceId).toBe('d3')
    expect(parse('other/thing', '{"seq":1}').record.deviceId).toBeNull()
  })
})
