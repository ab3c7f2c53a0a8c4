// Every refusal is audited: one structured log line, a counter, and an event on $SYS/warden/audit/<kind>.
import type { Logger } from '@warden/common'
import type { DenyReason } from '../policy/decision.js'

export type AuditKind = 'connect' | 'publish' | 'subscribe' | 'will'

export interface AuditRecord {
  readonly kind: AuditKind
  readonly reason: DenyReason
  readonly username: string | undefined
  readonly clientId: string | undefined
  readonly address?: string | undefined
  readonly topic?: string
  readonly qos?: number
  /** the registration filter that decided */
  readonly filter?: string
  readonly detail?: string
}

export const AUDIT_TOPIC_PREFIX = '$SYS/warden/audit/'

export interface Audit {
  record (rec: AuditRecord): void
  /** denials by `${kind}:${reason}` */
  readonly counts: ReadonlyMap<string, number>
  /** denials per username ('' for anonymous) */
  readonly byUser: ReadonlyMap<string, number>
}

export interface AuditDeps {
  logger: Logger
  brokerId: string
  /** publishes an event on a $SYS topic (QoS 0, not retained) */
  emit: (topic: string, payload: Buffer) => void
}

export function createAudit ({ logger, brokerId, emit }: AuditDeps): Audit {
  const counts = new Map<string, number>()
  const byUser = new Map<string, number>()
  const log = logger.child({ component: 'audit' })
  return {
    counts,
    byUser,
    record (rec) {
      const key = `${rec.kind}:${rec.reason}`
      counts.set(key, (counts.get(key) ?? 0) + 1)
      const user = rec.username ?? ''
      byUser.set(user, (byUser.get(user) ?? 0) + 1)
      log.warn({ audit: rec }, `denied ${rec.kind}: ${rec.reason}`)
      const event = { ...rec, brokerId, ts: new Date().toISOString() }
      emit(AUDIT_TOPIC_PREFIX + rec.kind, Buffer.from(JSON.stringify(event)))
    }
  }
}
