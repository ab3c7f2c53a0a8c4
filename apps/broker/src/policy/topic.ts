// MQTT topic and filter syntax, and the {username}/{clientid} templates Warden adds to filters.

export interface TemplateContext {
  readonly username: string | undefined
  readonly clientId: string
}

const TEMPLATE = /\{(username|clientid)\}/g
const ANY_TEMPLATE = /\{[^}]*\}/

/** Returns why a subscription/registration filter is invalid, or null. Templates are allowed. */
export function checkFilter (filter: string): string | null {
  if (filter.length === 0) return 'must not be empty'
  if (filter.includes('\u0000')) return 'must not contain U+0000'
  const levels = filter.split('/')
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i] as string
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) return "'#' must be a whole level and the last one"
    if (level.includes('+') && level !== '+') return "'+' must be a whole level"
    const stripped = level.replace(TEMPLATE, '')
    if (ANY_TEMPLATE.test(stripped)) return 'only {username} and {clientid} templates are known'
  }
  return null
}

/** Returns why a PUBLISH topic name is invalid, or null. */
export function checkTopicName (topic: string): string | null {
  if (topic.length === 0) return 'must not be empty'
  if (topic.includes('+') || topic.includes('#')) return 'must not contain wildcards'
  if (topic.includes('\u0000')) return 'must not contain U+0000'
  return null
}

export function hasTemplate (s: string): boolean {
  return s.includes('{username}') || s.includes('{clientid}')
}

/**
 * Substitutes templates in one level. Returns null when a value would inject MQTT syntax
 * (a username containing '/', '+' or '#') or is missing (anonymous client): such a level matches nothing.
 */
export function resolveLevel (level: string, ctx: TemplateContext): string | null {
  let failed = false
  const out = level.replace(TEMPLATE, (_m, name: string) => {
    const v = name === 'username' ? ctx.username : ctx.clientId
    // eslint-disable-next-line no-control-regex -- U+0000 is not allowed in a topic (MQTT-1.5.3-2)
    if (v === undefined || v === '' || /[/+#{}\u0000]/.test(v)) failed = true
    return v ?? ''
  })
  return failed ? null : out
}

/** Resolves every template of a filter for one client; null when it can match nothing for them. */
export function resolveFilter (filter: string, ctx: TemplateContext): string | null {
  if (!hasTemplate(filter)) return filter
  const levels = filter.split('/')
  for (let i = 0; i < levels.length; i++) {
    const r = resolveLevel(levels[i] as string, ctx)
    if (r === null) return null
    levels[i] = r
  }
  return levels.join('/')
}

/**
 * True when topic name `topic` matches filter `filter` (no templates), with the `$` rule of MQTT-4.7.2-1.
 * Walks both strings in place: it runs per delivered message (QoS capping), so it allocates nothing.
 */
export function matchTopic (filter: string, topic: string): boolean {
  const f0 = filter.charCodeAt(0)
  if (topic.charCodeAt(0) === 36 && (f0 === 43 || f0 === 35) && (filter.length === 1 || filter.charCodeAt(1) === 47)) return false
  let fi = 0
  let ti = 0 // start of the topic's current level; -1 once its levels are used up
  for (;;) {
    let fe = filter.indexOf('/', fi)
    if (fe < 0) fe = filter.length
    const flen = fe - fi
    if (flen === 1 && filter.charCodeAt(fi) === 35) return true // '#', which also matches the parent level
    if (ti < 0) return false
    let te = topic.indexOf('/', ti)
    if (te < 0) te = topic.length
    if (!(flen === 1 && filter.charCodeAt(fi) === 43)) {
      if (te - ti !== flen) return false
      for (let k = 0; k < flen; k++) if (filter.charCodeAt(fi + k) !== topic.charCodeAt(ti + k)) return false
    }
    ti = te === topic.length ? -1 : te + 1
    if (fe === filter.length) return ti < 0
    fi = fe + 1
  }
}

/**
 * True when some topic name could match both filters (neither has templates).
 * Used at SUBSCRIBE: a filter that intersects no read grant can match nothing the client may read.
 */
export function filtersIntersect (a: string, b: string): boolean {
  const x = a.split('/')
  const y = b.split('/')
  // a '$' first level is only matched literally
  const x0 = x[0] as string
  const y0 = y[0] as string
  if ((x0.startsWith('$') && (y0 === '+' || y0 === '#')) || (y0.startsWith('$') && (x0 === '+' || x0 === '#'))) return false
  const n = Math.max(x.length, y.length)
  for (let i = 0; i < n; i++) {
    const p = x[i]
    const q = y[i]
    if (p === '#' || q === '#') return true
    if (p === undefined || q === undefined) return false
    if (p !== '+' && q !== '+' && p !== q) return false
  }
  return true
}

/** True when every topic matched by `inner` is also matched by `outer` (neither has templates). */
export function filterCovers (outer: string, inner: string): boolean {
  const o = outer.split('/')
  const n = inner.split('/')
  const o0 = o[0] as string
  // wildcards in a first level never match '$' topics
  if (inner.startsWith('$') && (o0 === '+' || o0 === '#')) return false
  for (let i = 0; i < o.length; i++) {
    const ol = o[i]
    if (ol === '#') return true
    const nl = n[i]
    if (nl === undefined || nl === '#') return false
    if (ol === '+') continue
    if (nl === '+' || nl !== ol) return false
  }
  return o.length === n.length
}
