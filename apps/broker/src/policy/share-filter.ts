// `$share/{group}/{filter}`: parsing and validation, and the identity a group's copy of a message carries.

export const SHARE_PREFIX = '$share/'

export interface ShareFilter {
  /** the group name */
  readonly group: string
  /** the filter the group reads */
  readonly filter: string
  /** `{group}/{filter}`: one shared subscription (two groups of one name on different filters are two) */
  readonly key: string
}

export type ParsedShare = { readonly ok: true, readonly share: ShareFilter } | { readonly ok: false, readonly reason: string }

export function isShareTopic (topic: string): boolean {
  return topic.startsWith(SHARE_PREFIX)
}

/** Parses a SUBSCRIBE filter starting with `$share/`; says why it is not a usable shared subscription. */
export function parseShareFilter (topic: string): ParsedShare {
  const key = topic.slice(SHARE_PREFIX.length)
  const slash = key.indexOf('/')
  if (slash < 0) return { ok: false, reason: 'a shared subscription is $share/{group}/{filter}' }
  const group = key.slice(0, slash)
  const filter = key.slice(slash + 1)
  if (group === '') return { ok: false, reason: 'the group name must not be empty' }
  // eslint-disable-next-line no-control-regex -- U+0000 is not allowed in a topic (MQTT-1.5.3-2)
  if (/[+#\u0000]/.test(group)) return { ok: false, reason: 'the group name must not contain + or #' }
  if (filter === '') return { ok: false, reason: 'the filter must not be empty' }
  if (filter === '$share' || isShareTopic(filter)) return { ok: false, reason: 'a shared subscription cannot share another' }
  const why = filterSyntax(filter)
  if (why !== null) return { ok: false, reason: `the filter ${why}` }
  return { ok: true, share: { group, filter, key } }
}

/** MQTT filter syntax only: templates mean nothing in a subscription, braces are plain characters there. */
function filterSyntax (filter: string): string | null {
  if (filter.includes('\u0000')) return 'must not contain U+0000'
  const levels = filter.split('/')
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i] as string
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) return "may hold '#' only as its whole last level"
    if (level.includes('+') && level !== '+') return "may hold '+' only as a whole level"
  }
  return null
}

/** The inner filter of a `$share/{group}/{filter}` subscription, or the filter itself. */
export function readFilterOf (subscription: string): string {
  if (!isShareTopic(subscription)) return subscription
  const rest = subscription.slice(SHARE_PREFIX.length)
  const slash = rest.indexOf('/')
  return slash < 0 ? subscription : rest.slice(slash + 1)
}

// A group's copy of a message gets its own broker id: aedes's stores key queued messages by (broker id,
// counter) and the Redis store counts references per key, so the copy must not collide with the original
// queued for ordinary persistent subscribers; Warden's repeat filter also keys on it, so a member that is
// an ordinary subscriber as well gets both (as MQTT 5 specifies). No ':' (the Redis store splits on it).
const COPY_MARK = '|share|'

export function copyBrokerId (origin: string, key: string): string {
  return `${origin}${COPY_MARK}${encodeURIComponent(key)}`
}

/** The origin broker id and group key of a copy's broker id, or null for any other packet. */
export function parseCopyBrokerId (brokerId: unknown): { readonly origin: string, readonly key: string } | null {
  if (typeof brokerId !== 'string') return null
  const i = brokerId.indexOf(COPY_MARK)
  if (i < 0) return null
  try {
    return { origin: brokerId.slice(0, i), key: decodeURIComponent(brokerId.slice(i + COPY_MARK.length)) }
  } catch {
    return null
  }
}
