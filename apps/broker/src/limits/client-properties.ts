// The MQTT 5 properties a client may not put on a message it hands the broker. mqtt-packet parses any property
// in any packet, and aedes 2.0.0-beta.1 forwards what it parsed: a property that is not a PUBLISH property
// (Reason String, Session Expiry Interval, ...: a Malformed Packet, MQTT 5 2.2.2.2) closed every MQTT 5
// mosquitto_sub reading the topic, a will's Topic Alias every MQTT.js one (alias above its maximum), and,
// queued for a persistent session, closed it again at every reconnect; a Subscription Identifier set by the
// publisher (MQTT-3.3.4-6) reached subscribers that have none of their own.
// A User Property named '__proto__' is legal MQTT, but Warden cannot carry it: the msgpack decoder of the
// cluster bus and of consumer-group hand-overs refuses the key (the whole message was dropped on the other
// processes, PUBACK sent), and msgpack-lite, which reads the level and Redis stores, assigns it as a prototype
// (the property was lost from queued and retained messages). It is refused where it enters, as U+0000 in a
// property's string, which a receiver must close the connection for (MQTT-1.5.4-2) and aedes forwarded.

/** the PUBLISH properties a client may set (MQTT 5 3.3.2.3); a Topic Alias aedes resolves and removes */
const PUBLISH_PROPERTIES = new Set([
  'payloadFormatIndicator', 'messageExpiryInterval', 'topicAlias', 'responseTopic', 'correlationData', 'userProperties', 'contentType'
])

/** the Will Properties of MQTT 5 3.1.3.2; any other identifier there makes the CONNECT a Malformed Packet (2.2.2.2) */
const WILL_PROPERTIES = new Set([
  'willDelayInterval', 'payloadFormatIndicator', 'messageExpiryInterval', 'contentType', 'responseTopic', 'correlationData', 'userProperties'
])

const hasWildcard = (topic: string): boolean => topic.includes('#') || topic.includes('+')

const PROTO_NAME = 'a User Property named __proto__ (cannot be stored or carried between broker processes)'

/** what is wrong with the properties of a client's PUBLISH, or null */
export function publishPropertyError (properties: Readonly<Record<string, unknown>> | undefined): string | null {
  if (properties === undefined) return null
  if (properties.subscriptionIdentifier !== undefined) return 'Subscription Identifier in a PUBLISH from a client (MQTT-3.3.4-6)'
  for (const name of Object.keys(properties)) {
    if (!PUBLISH_PROPERTIES.has(name)) return `${name} is not a PUBLISH property (MQTT 5 3.3.2.3)`
  }
  return stringError(properties)
}

/** what is wrong with the Will Properties of a CONNECT, or null */
export function willPropertyError (properties: Readonly<Record<string, unknown>> | undefined): string | null {
  if (properties === undefined) return null
  for (const name of Object.keys(properties)) {
    if (!WILL_PROPERTIES.has(name)) return `${name} is not a Will Property (MQTT 5 3.1.3.2)`
  }
  const response = properties.responseTopic
  if (typeof response === 'string' && hasWildcard(response)) return 'wildcard in the will\'s Response Topic (MQTT-3.3.2-14)'
  return stringError(properties)
}

const hasNul = (v: unknown): boolean => typeof v === 'string' && v.includes('\u0000')

/** the strings of a message's properties: U+0000 in one; a User Property named '__proto__' */
function stringError (properties: Readonly<Record<string, unknown>>): string | null {
  for (const name of ['contentType', 'responseTopic']) {
    if (hasNul(properties[name])) return `${name} contains U+0000 (MQTT-1.5.4-2)`
  }
  const user = properties.userProperties
  if (typeof user !== 'object' || user === null) return null
  // mqtt-packet reads User Properties into a null-prototype object: '__proto__' is an own key there
  if (Object.hasOwn(user, '__proto__')) return PROTO_NAME
  for (const [name, value] of Object.entries(user)) {
    if (hasNul(name) || (Array.isArray(value) ? value.some(hasNul) : hasNul(value))) return 'a User Property contains U+0000 (MQTT-1.5.4-2)'
  }
  return null
}
