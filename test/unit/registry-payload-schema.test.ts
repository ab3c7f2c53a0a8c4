// Payload schemas: compiled once, checked per message, with a short reason naming the offending field.
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { encodeTelemetry } from '@warden/common'
import { compilePayloadSchema, PayloadSchemas } from '../../apps/broker/src/registry/payload-schema.js'

const TEMP = {
  type: 'object',
  required: ['temp'],
  properties: { temp: { type: 'number', minimum: -50, maximum: 150 }, unit: { enum: ['C', 'F'] } },
  additionalProperties: false
}

describe('compilePayloadSchema', () => {
  const check = compilePayloadSchema(TEMP)
  it.each([
    ['{"temp":21.5}', null],
    ['{"temp":21.5,"unit":"C"}', null],
    [Buffer.from('{"temp":-50}'), null],
    ['{"temp":"hot"}', 'payload temp: must be number'],
    ['{"temp":200}', 'payload temp: must be <= 150'],
    ['{}', 'payload temp: is required'],
    ['{"temp":1,"unit":"K"}', 'payload unit: must be one of "C", "F"'],
    ['{"temp":1,"x":2}', 'payload x: is not a known setting (check its spelling)'],
    ['[1]', 'payload (root): must be object'],
    ['', 'payload is not JSON'],
    ['{"temp":', 'payload is not JSON'],
    [Buffer.from([0xff, 0xfe]), 'payload is not JSON']
  ])('%s → %s', (payload, expected) => {
    expect(check(payload)).toBe(expected)
  })

  it.each([
    [{ type: 'objekt' }, /must be equal to one of the allowed values/],
    [{ type: 'string', format: 'date-time' }, /unknown format "date-time"/],
    [{ propertees: {} }, /unknown keyword: "propertees"/],
    [{ $ref: 'https://example.com/s.json' }, /can't resolve reference/]
  ])('refuses %j at compile time, naming the field', (schema, message) => {
    expect(() => compilePayloadSchema(schema, 'topics[2].schema')).toThrow(expect.objectContaining({
      code: 'WARDEN_ERR_PAYLOAD_SCHEMA', field: 'topics[2].schema', message: expect.stringMatching(message)
    }))
  })

  it('accepts valid JSON Schema that ajv\'s style rules would flag (required without properties)', () => {
    expect(compilePayloadSchema({ type: 'object', required: ['a'] })('{"a":1}')).toBeNull()
  })
})

describe('PayloadSchemas', () => {
  it('compiles a schema once and forgets the ones no longer used', () => {
    const s = new PayloadSchemas()
    const a = s.check(TEMP)
    expect(s.check(JSON.parse(JSON.stringify(TEMP)))).toBe(a)
    s.retain([])
    expect(s.check(TEMP)).not.toBe(a)
  })

  it('gives two registrations with the same $id their own validators', () => {
    const s = new PayloadSchemas()
    const one = s.check({ $id: 'https://example.com/x.json', type: 'number' })
    const two = s.check({ $id: 'https://example.com/x.json', type: 'string' })
    expect(one('1')).toBeNull()
    expect(two('"a"')).toBeNull()
  })
})

// the schema the README registers with `--schema config/telemetry.schema.json` fits what the producer sends
describe('config/telemetry.schema.json', () => {
  const schema = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/telemetry.schema.json'), 'utf8')) as Record<string, unknown>
  const check = compilePayloadSchema(schema)

  it('accepts the reference producer\'s telemetry', () => {
    const telemetry = encodeTelemetry({
      deviceId: 'device-06', run: 'r1', seq: 1, ts: 1796540000000, readings: { temperature: 21.5, humidity: 40, battery: 90 }
    })
    expect(check(telemetry)).toBeNull()
  })

  it.each([
    ['{"temp":21.5}', /deviceId/],
    ['{"deviceId":"d","run":"r","seq":0,"ts":1,"readings":{}}', /seq/],
    ['{"deviceId":"d","run":"r","seq":1,"ts":1,"readings":{"t":"hot"}}', /readings/],
    ['{"deviceId":"d","run":"r","seq":1,"ts":1,"readings":{},"extra":1}', /extra/],
    ['not json', /JSON/]
  ])('refuses %s', (payload, why) => {
    expect(check(payload)).toMatch(why)
  })
})
