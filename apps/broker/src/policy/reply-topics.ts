// MQTT 5 request/response (config `replies`): every client whose id is one topic level has a reply topic,
// `<prefix>/<clientId>/`, advertised as Response Information when it asks for it. Under it only that client
// reads — whatever the grants of its roles or anyone else's, admins' included — and only the holders of a
// responder role publish, whatever the registrations or unregisteredTopics say. Pure.
import type { Identity } from './identity.js'

export interface ReplyNamespace {
  /** the levels before the client id, without a trailing '/' (e.g. `reply`) */
  readonly prefix: string
  /** roles whose holders may answer on any client's reply topic */
  readonly responders: readonly string[]
}

/** a client id that is one plain topic level (no '/', wildcard or U+0000) gets a reply topic */
function isPlainLevel (s: string): boolean {
  // eslint-disable-next-line no-control-regex -- U+0000 is not allowed in a topic (MQTT-1.5.3-2)
  return s.length > 0 && !/[/+#\u0000]/.test(s)
}

/** the Response Information of a client: `<prefix>/<clientId>/`, or undefined when its id is not one plain level */
export function replyTopicOf (ns: ReplyNamespace, clientId: string): string | undefined {
  return isPlainLevel(clientId) ? `${ns.prefix}/${clientId}/` : undefined
}

/** the client whose reply topic `topic` (a topic name) lies under, or undefined when it is outside the namespace */
export function replyOwnerOf (ns: ReplyNamespace, topic: string): string | undefined {
  const p = ns.prefix
  if (topic.length <= p.length || topic.charCodeAt(p.length) !== 47 || !topic.startsWith(p)) return topic === p ? '' : undefined
  const end = topic.indexOf('/', p.length + 1)
  return topic.slice(p.length + 1, end < 0 ? topic.length : end)
}

/** may this client publish on topic name `topic`, under the namespace (undefined: not under it) */
export function mayAnswer (ns: ReplyNamespace, identity: Identity, topic: string): boolean | undefined {
  const owner = replyOwnerOf(ns, topic)
  if (owner === undefined) return undefined
  // a topic directly under the prefix, or under an id that is no client's reply topic, is nobody's to write
  return isPlainLevel(owner) && topic.length > ns.prefix.length + owner.length + 1 && ns.responders.some((r) => identity.roles.includes(r))
}

/** may this client receive a message on topic name `topic` (undefined: not under the namespace, the grants decide) */
export function mayReadReply (ns: ReplyNamespace, identity: Identity, topic: string): boolean | undefined {
  const owner = replyOwnerOf(ns, topic)
  if (owner === undefined) return undefined
  return owner === identity.clientId && isPlainLevel(owner)
}

/**
 * SUBSCRIBE check for a filter reaching into the namespace: false when it lies wholly under another client's
 * reply topic (or directly on the prefix), true when it can match the client's own, undefined when the
 * grants decide (a filter such as `#` or `+/x`: its messages are checked one by one).
 */
export function maySubscribeReply (ns: ReplyNamespace, identity: Identity, filter: string): boolean | undefined {
  const p = ns.prefix
  if (!(filter === p || (filter.startsWith(p) && filter.charCodeAt(p.length) === 47))) return undefined
  if (filter === p) return false
  const end = filter.indexOf('/', p.length + 1)
  const level = filter.slice(p.length + 1, end < 0 ? filter.length : end)
  if (level === '#' || level === '+') return undefined
  return level === identity.clientId && isPlainLevel(level)
}
