// patch() refuses to start on an internal that is missing or reshaped, naming it and why Warden needs it.
import { describe, expect, it } from 'vitest'
import { fn, patch, value } from '../../apps/broker/src/aedes/patch.js'

const store = (): { put: (a: unknown, b: unknown, cb: unknown) => string, count: number } => ({ put: (_a, _b, _cb) => 'stored', count: 1 })

describe('patch', () => {
  it('replaces a method with a wrapper of the bound original', () => {
    const s = store()
    patch(s, 'put', fn(3), (put) => (a, b, cb) => `wrapped ${put(a, b, cb)}`, 'test')
    expect(s.put(1, 2, 3)).toBe('wrapped stored')
  })

  it('wraps a wrapper without checking its arity again (aedes\'s own function was checked)', () => {
    const s = store()
    patch(s, 'put', fn(3), (put) => (a, b) => put(a, b, undefined), 'first')
    expect(() => patch(s, 'put', fn(3), (put) => put, 'second')).not.toThrow()
  })

  it.each([
    ['missing', 'get' as never, fn(3), /persistence\.get is missing, expected a function/],
    ['of another arity', 'put' as const, fn(2), /persistence\.put takes 3 parameters, expected 2/],
    ['of another type', 'count' as const, value('object'), /persistence\.count is a number, expected an object/]
  ])('refuses an internal %s with WARDEN_ERR_AEDES_CONTRACT and the reason', (_what, name, shape, message) => {
    expect(() => patch(store(), name, shape, (x) => x, 'why it matters', 'persistence'))
      .toThrow(expect.objectContaining({ code: 'WARDEN_ERR_AEDES_CONTRACT', message: expect.stringMatching(message) }))
    expect(() => patch(store(), name, shape, (x) => x, 'why it matters', 'persistence')).toThrow(/why it matters/)
  })

  it('accepts null for a nullable value', () => {
    const c = { will: null as object | null }
    expect(() => patch(c, 'will', value('object', 'nullable'), (w) => w, 'test')).not.toThrow()
    expect(() => patch(c, 'will', value('object'), (w) => w, 'test')).toThrow(/is null/)
  })
})
