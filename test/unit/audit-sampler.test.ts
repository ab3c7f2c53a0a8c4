// Audit sampling: pure, on a clock the test drives.
import { describe, expect, it } from 'vitest'
import { createAuditSampler } from '../../apps/broker/src/audit/audit-sampler.js'

describe('audit sampler', () => {
  it('writes a burst, then leaves records out, and says how many when it writes again', () => {
    const s = createAuditSampler({ perSecond: 1, burst: 2 })
    expect([s.admit('connection:connection-rate', 0), s.admit('connection:connection-rate', 0)]).toEqual([0, 0])
    expect([s.admit('connection:connection-rate', 0), s.admit('connection:connection-rate', 500)]).toEqual([null, null])
    expect(s.admit('publish:not-owner', 500)).toBe(0)
    expect(s.admit('connection:connection-rate', 1000)).toBe(2)
  })
})
