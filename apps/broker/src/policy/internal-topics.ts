// The topics the broker publishes to itself (aedes's $SYS heartbeats, takeovers and subscription sync;
// Warden's $SYS stats and audit; the consumer-group links and dropped publishes under $WARDEN; control
// answers under $CONTROL): no client publishes there, whatever `unregisteredTopics` says.

/** Topics under this prefix are the broker's own: nobody subscribes to them, dropped publishes go there. */
export const RESERVED_PREFIX = '$WARDEN/'
/** Where a dropped publish goes: a reserved topic no client can read. */
export const VOID_TOPIC = `${RESERVED_PREFIX}void`

const ROOTS: readonly string[] = ['$SYS', '$WARDEN', '$CONTROL']

/** True for a topic under one of the broker's own roots (the root itself included). */
export function isInternalTopic (topic: string): boolean {
  if (topic.charCodeAt(0) !== 36) return false // '$': the common case costs one comparison
  for (const root of ROOTS) {
    if (topic.startsWith(root) && (topic.length === root.length || topic.charCodeAt(root.length) === 47)) return true
  }
  return false
}

/**
 * True when a filter's first level is one of the broker's roots or starts like one ($SYSTEM, $WARDEN2):
 * nothing there may be registered, and a name that reads as a broker root is refused with them.
 */
export function claimsInternalRoot (filter: string): boolean {
  if (filter.charCodeAt(0) !== 36) return false
  const slash = filter.indexOf('/')
  const first = slash < 0 ? filter : filter.slice(0, slash)
  return ROOTS.some((root) => first.startsWith(root))
}
