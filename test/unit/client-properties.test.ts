import { describe, expect, it } from 'vitest'
import { publishPropertyError, willPropertyError } from '../../apps/broker/src/limits/client-properties.js'

const PROTO = 'a User Property named __proto__ (cannot be stored or carried between broker processes)'
/** as mqtt-packet parses them: a null-prototype object whose keys are own properties, '__proto__' included */
const userProps = (json: string): Record<string, unknown> => Object.assign(Object.create(null) as Record<string, unknown>, JSON.parse(json) as object)

describe('publishPropertyError', () => {
  it.each([
    [undefined, null],
    [{}, null],
    [{ topicAlias: 3, responseTopic: 'a/b', userProperties: { subscriptionIdentifier: '1' } }, null],
    [{ payloadFormatIndicator: true, messageExpiryInterval: 1, correlationData: Buffer.from('c'), contentType: 'x' }, null],
    [{ reasonString: 'x' }, 'reasonString is not a PUBLISH property (MQTT 5 3.3.2.3)'],
    [{ contentType: 'x', sessionExpiryInterval: 5 }, 'sessionExpiryInterval is not a PUBLISH property (MQTT 5 3.3.2.3)'],
    [{ willDelayInterval: 5 }, 'willDelayInterval is not a PUBLISH property (MQTT 5 3.3.2.3)'],
    [{ userProperties: userProps('{"__proto__":"x"}') }, PROTO],
    [{ userProperties: userProps('{"a":"b","__proto__":["x","y"]}') }, PROTO],
    [{ userProperties: userProps('{"constructor":"x","toString":"y","hasOwnProperty":"z"}') }, null],
    [{ contentType: 'a\u0000b' }, 'contentType contains U+0000 (MQTT-1.5.4-2)'],
    [{ responseTopic: 'r/\u0000' }, 'responseTopic contains U+0000 (MQTT-1.5.4-2)'],
    [{ userProperties: userProps('{"k\\u0000":"v"}') }, 'a User Property contains U+0000 (MQTT-1.5.4-2)'],
    [{ userProperties: userProps('{"k":["v","w\\u0000"]}') }, 'a User Property contains U+0000 (MQTT-1.5.4-2)'],
    [{ userProperties: userProps('{"k":"\\u0001\\uFFFF"}'), contentType: '\u007f' }, null],
    [{ subscriptionIdentifier: 5 }, 'Subscription Identifier in a PUBLISH from a client (MQTT-3.3.4-6)'],
    [{ subscriptionIdentifier: 0 }, 'Subscription Identifier in a PUBLISH from a client (MQTT-3.3.4-6)']
  ])('%j → %s', (props, want) => {
    expect(publishPropertyError(props)).toBe(want)
  })
})

describe('willPropertyError', () => {
  const allowed = {
    willDelayInterval: 5, payloadFormatIndicator: true, messageExpiryInterval: 60, contentType: 'text/plain',
    responseTopic: 'a/b', correlationData: Buffer.from('c'), userProperties: { topicAlias: '1' }
  }
  it.each([
    [undefined, null],
    [allowed, null],
    [{ topicAlias: 1 }, 'topicAlias is not a Will Property (MQTT 5 3.1.3.2)'],
    [{ ...allowed, subscriptionIdentifier: 9 }, 'subscriptionIdentifier is not a Will Property (MQTT 5 3.1.3.2)'],
    [{ sessionExpiryInterval: 9 }, 'sessionExpiryInterval is not a Will Property (MQTT 5 3.1.3.2)'],
    [{ responseTopic: 'a/#' }, 'wildcard in the will\'s Response Topic (MQTT-3.3.2-14)'],
    [{ responseTopic: '+/b' }, 'wildcard in the will\'s Response Topic (MQTT-3.3.2-14)'],
    [{ contentType: 'x', userProperties: userProps('{"__proto__":"x"}') }, PROTO],
    [{ contentType: '\u0000' }, 'contentType contains U+0000 (MQTT-1.5.4-2)'],
    [{ userProperties: userProps('{"k":"\\u0000"}') }, 'a User Property contains U+0000 (MQTT-1.5.4-2)']
  ])('%j → %s', (props, want) => {
    expect(willPropertyError(props)).toBe(want)
  })
})
