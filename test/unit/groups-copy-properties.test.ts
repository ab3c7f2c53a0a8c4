// The MQTT 5 properties a consumer group's copy carries, and their JSON form (cluster link, Redis queue).
import { describe, expect, it } from 'vitest'
import { carriedProperties, decodeProperties, encodeProperties } from '../../apps/broker/src/groups/copy-properties.js'

describe('copy properties', () => {
  it.each([
    [undefined, undefined],
    [null, undefined],
    [{}, undefined],
    [{ topicAlias: 3 }, undefined],
    [{ subscriptionIdentifier: 9, contentType: 'a/b' }, { contentType: 'a/b' }],
    [{ userProperties: { k: ['1', '2'] }, payloadFormatIndicator: true, messageExpiryInterval: 60 },
      { userProperties: { k: ['1', '2'] }, payloadFormatIndicator: true, messageExpiryInterval: 60 }],
    [{ responseTopic: 'r/t', contentType: undefined }, { responseTopic: 'r/t' }]
  ])('carries %j as %j', (given, carried) => {
    expect(carriedProperties(given as Record<string, unknown> | undefined | null)).toEqual(carried)
  })

  it('round-trips through JSON, correlation data (binary) included', () => {
    const props = { userProperties: { site: 'n' }, correlationData: Buffer.from([0, 255, 7]), responseTopic: 'x/y' }
    const back = decodeProperties(JSON.parse(JSON.stringify(encodeProperties(props))) as Record<string, unknown>)
    expect(back).toEqual(props)
    expect(Buffer.isBuffer(back?.correlationData)).toBe(true)
    expect(encodeProperties(undefined)).toBeUndefined()
    expect(decodeProperties(undefined)).toBeUndefined()
  })
})
