// The most recent refusals, for the dashboard and the API (the audit log has all of them).
import type { Audit, AuditEvent } from '../audit/audit.js'

export interface DenialLog {
  /** oldest first */
  recent (): AuditEvent[]
  /** calls back for every new refusal; returns a function that stops it */
  subscribe (listener: (event: AuditEvent) => void): () => void
}

export function createDenialLog (audit: Audit, capacity = 1000): DenialLog {
  const ring: AuditEvent[] = []
  const listeners = new Set<(event: AuditEvent) => void>()
  audit.onRecord((event) => {
    ring.push(event)
    if (ring.length > capacity) ring.shift()
    for (const l of listeners) l(event)
  })
  return {
    recent: () => [...ring],
    subscribe (listener) {
      listeners.add(listener)
      return () => { listeners.delete(listener) }
    }
  }
}
