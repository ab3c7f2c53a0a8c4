// The CLI's table and duration formatting.
import { describe, expect, it } from 'vitest'
import { formatDuration, formatTable } from '../../apps/broker/src/cli/table.js'

describe('formatTable', () => {
  it('aligns columns and trims trailing space', () => {
    expect(formatTable(['A', 'LONG'], [['xyz', '1'], ['q', '']])).toBe('A    LONG\nxyz  1\nq\n')
  })
  it.each([[0, '0s'], [59, '59s'], [61, '1m 1s'], [3600, '1h 0s'], [90061, '1d 1h 1m 1s']])('formatDuration(%i) = %s', (s, text) => {
    expect(formatDuration(s)).toBe(text)
  })
})
