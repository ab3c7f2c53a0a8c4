// What a topic registration would take from accounts that own a wider one, and owners it names that do not
// exist: answered as warnings with the change (API, CLI, control topic, dashboard), never refused. Pure.
import { filterCovers, filtersIntersect, hasTemplate } from '../policy/topic.js'
import type { StoredTopic } from './types.js'

export interface RegistrationWarning {
  readonly code: 'unknown-owner' | 'takes-from-owners'
  readonly message: string
  /** the accounts affected: owners that do not exist, or owners of `filter` that lose part of it */
  readonly owners: readonly string[]
  /** the wider registration a part of which now goes to the new owners */
  readonly filter?: string
  /** of `owners`, those with a client connected now */
  readonly connected?: readonly string[]
}

/** a level's weight in the ownership trie's order (filter-trie.ts): literal, template, '+', end of filter, '#' */
function rank (level: string | undefined): number {
  if (level === undefined) return 1.5
  if (level === '#') return 1
  if (level === '+') return 2
  return hasTemplate(level) ? 3 : 4
}

const widen = (filter: string): string => filter.split('/').map((l) => hasTemplate(l) ? '+' : l).join('/')

/** True when some topic matches both and `inner` decides it: the most specific registration wins. */
export function takesFrom (inner: string, outer: string): boolean {
  if (inner === outer || !filtersIntersect(widen(inner), widen(outer))) return false
  const a = inner.split('/')
  const b = outer.split('/')
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const ra = rank(a[i])
    const rb = rank(b[i])
    if (ra !== rb) return ra > rb
    if (a[i] === '#') return false
  }
  return false
}

/** The accounts `outer`'s owners that `inner` (owned by `owners`) takes from. */
function losers (inner: string, owners: readonly string[], outer: StoredTopic, known: ReadonlySet<string>): string[] {
  const out = new Set<string>()
  const innerLevels = inner.split('/')
  for (const o of outer.owners) {
    if (o === '{username}') {
      // devices/{username}/# loses devices/sensor-1/… to another owner: sensor-1 is the one affected
      outer.filter.split('/').forEach((level, i) => {
        const v = innerLevels[i]
        if (level === '{username}' && v !== undefined && !hasTemplate(v) && v !== '+' && v !== '#' && known.has(v) && !owners.includes(v)) out.add(v)
      })
    } else if (known.has(o) && !owners.includes(o)) out.add(o)
  }
  return [...out].sort()
}

export function registrationWarnings (
  filter: string, owners: readonly string[], topics: readonly StoredTopic[], known: ReadonlySet<string>, connected: ReadonlySet<string>
): RegistrationWarning[] {
  const warnings: RegistrationWarning[] = []
  const unknown = owners.filter((o) => o !== '{username}' && !known.has(o))
  if (unknown.length > 0) {
    warnings.push({
      code: 'unknown-owner',
      owners: unknown,
      message: `no account is called ${unknown.join(', ')}: nobody can publish there under that name until an account of that name is created`
    })
  }
  for (const t of topics) {
    if (!takesFrom(filter, t.filter)) continue
    // a narrower registration between them decides there already: t's owners had nothing there to lose
    if (topics.some((m) => m !== t && m.filter !== filter && takesFrom(m.filter, t.filter) && filterCovers(widen(m.filter), widen(filter)))) continue
    const affected = losers(filter, owners, t, known)
    if (affected.length === 0) continue
    const live = affected.filter((u) => connected.has(u))
    warnings.push({
      code: 'takes-from-owners',
      filter: t.filter,
      owners: affected,
      connected: live,
      message: `${affected.join(', ')} owned ${filter} through ${t.filter} and may no longer publish there` +
        (live.length > 0 ? ` (connected now: ${live.join(', ')})` : '')
    })
  }
  return warnings
}
