// Every refusal is audited: one structured log line, a counter, and an event on $SYS/warden/audit/<kind>.
import type { Logger } from '@warden/common'
import type { DenyReason } from '../policy/decision.js'
import { createAuditSampler } from './audit-sampler.js'

/** 'connection': a socket refused before or outside MQTT's CONNECT; 'delivery': a message not delivered
 * (or a client cut off) because a subscriber falls behind */
export type AuditKind = 'connect' | 'publish' | 'subscribe' | 'will' | 'connection' | 'delivery'

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
  /** records of the same kind and reason left out (flood) since the last one written */
  readonly suppressed?: number
}

export const AUDIT_TOPIC_PREFIX = '$SYS/warden/audit/'

/** an audit record as published: with the broker's id and the time */
export type AuditEvent = AuditRecord & { readonly brokerId: string, readonly ts: string }

export interface Audit {
  record (rec: AuditRecord): void
  /** denials by `${kind}:${reason}` */
  readonly counts: ReadonlyMap<string, number>
  /** denials per username ('' for anonymous) */
  readonly byUser: ReadonlyMap<string, number>
  /** calls back for every record (control plane: recent denials) */
  onRecord (listener: (event: AuditEvent) => void): void
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
  const listeners: Array<(event: AuditEvent) => void> = []
  const sampler = createAuditSampler()
  return {
    counts,
    byUser,
    onRecord (listener) { listeners.push(listener) },
    record (rec) {
      const key = `${rec.kind}:${rec.reason}`
      counts.set(key, (counts.get(key) ?? 0) + 1)
      const user = rec.username ?? ''
      byUser.set(user, (byUser.get(user) ?? 0) + 1)
      const suppressed = sampler.admit(key, Date.now())
      if (suppressed === null) return
      if (suppressed > 0) rec = { ...rec, suppressed }
      log.warn({ audit: rec }, `denied ${rec.kind}: ${rec.reason}`)
      const event: AuditEvent = { ...rec, brokerId, ts: new Date().toISOString() }
      emit(AUDIT_TOPIC_PREFIX + rec.kind, Buffer.from(JSON.stringify(event)))
      for (const l of listeners) l(event)
    }
  }
}
