// Every audit reason (DenyReason) is documented in docs/errors.md, by its name in backticks.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { DenyReason } from '../../apps/broker/src/policy/decision.js'

const DOC = readFileSync(join(import.meta.dirname, '../../docs/errors.md'), 'utf8')
const SOURCE = readFileSync(join(import.meta.dirname, '../../apps/broker/src/policy/decision.ts'), 'utf8')

/** every DenyReason, once: the typecheck (`npm test`) fails when a reason is added to or removed from the type
 * and not here */
const REASONS = {
  'not-owner': true,
  unregistered: true,
  'reserved-topic': true,
  'not-granted': true,
  'bad-credentials': true,
  'not-authorized': true,
  'identifier-rejected': true,
  'client-id-owned': true,
  'schema-violation': true,
  'max-connections': true,
  'connection-rate': true,
  'max-user-connections': true,
  'login-throttled': true,
  'login-pending': true,
  'closed-during-connect': true,
  'packet-too-large': true,
  'malformed-packet': true,
  'tls-handshake': true,
  'bad-certificate': true,
  'publish-rate': true,
  'topic-too-long': true,
  'max-subscriptions': true,
  'queue-full': true,
  'slow-consumer': true,
  'retained-quota': true,
  'bad-shared-filter': true,
  'store-unavailable': true
} as const satisfies Record<DenyReason, true>

/** the string literals of the DenyReason union, read from its source (vitest does not typecheck) */
function reasonsInSource (): string[] {
  const start = SOURCE.indexOf('export type DenyReason =')
  expect(start, 'DenyReason not found in policy/decision.ts').toBeGreaterThanOrEqual(0)
  const end = SOURCE.indexOf('\n\n', start)
  const body = SOURCE.slice(start, end === -1 ? undefined : end)
    .split('\n').map((line) => line.replace(/\/\/.*$/, '')).join('\n')
  return [...body.matchAll(/'([a-z0-9-]+)'/g)].map((m) => m[1] as string)
}

describe('docs/errors.md audit reasons', () => {
  it('the list here is the DenyReason union', () => {
    expect(reasonsInSource().sort()).toEqual(Object.keys(REASONS).sort())
  })

  it.each(Object.keys(REASONS))('documents %s', (reason) => {
    expect(DOC, `docs/errors.md does not name \`${reason}\``).toContain(`\`${reason}\``)
  })
})
