// The MQTT 5 properties a client may not put on a message it hands the broker. mqtt-packet parses any property
// in any packet, and aedes 2.0.0-beta.1 forwards what it parsed: a Subscription Identifier set by the
// publisher (MQTT-3.3.4-6) reached subscribers that have none of their own, and a will's Topic Alias or
// Subscription Identifier (not Will Properties, MQTT 5 3.1.3.2) reached every subscriber, which MQTT.js
// answers by closing: queued for a persistent session, such a will closed it at every reconnect.

/** the Will Properties of MQTT 5 3.1.3.2; any other identifier there makes the CONNECT a Malformed Packet (2.2.2.2) */
const WILL_PROPERTIES = new Set([
  'willDelayInterval', 'payloadFormatIndicator', 'messageExpiryInterval', 'contentType', 'responseTopic', 'correlationData', 'userProperties'
])

const hasWildcard = (topic: string): boolean => topic.includes('#') || topic.includes('+')

/** what is wrong with the properties of a client's PUBLISH, or null */
export function publishPropertyError (properties: Readonly<Record<string, unknown>> | undefined): string | null {
  if (properties?.subscriptionIdentifier !== undefined) return 'Subscription Identifier in a PUBLISH from a client (MQTT-3.3.4-6)'
  return null
}

/** what is wrong with the Will Properties of a CONNECT, or null */
export function willPropertyError (properties: Readonly<Record<string, unknown>> | undefined): string | null {
  if (properties === undefined) return null
  for (const name of Object.keys(properties)) {
    if (!WILL_PROPERTIES.has(name)) return `${name} is not a Will Property (MQTT 5 3.1.3.2)`
  }
  const response = properties.responseTopic
  if (typeof response === 'string' && hasWildcard(response)) return 'wildcard in the will\'s Response Topic (MQTT-3.3.2-14)'
  return null
}
