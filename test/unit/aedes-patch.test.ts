// patch() refuses to start on an internal that is missing or reshaped, naming it and why Warden needs it.
import { describe, expect, it } from 'vitest'
import { fn, patch, patchClosure, value } from '../../apps/broker/src/aedes/patch.js'

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

// a client's deliverQoS: aedes makes one closure per client over the client itself
describe('patchClosure', () => {
  const client = (): { deliver: (p: unknown, cb: unknown) => string } => {
    const that = { id: 'c1' }
    return { deliver: (p, _cb) => `${that.id} got ${String(p)}` }
  }

  it('wraps the original as it is: no bound copy of it', () => {
    const c = client()
    const original = c.deliver
    let seen: unknown
    patchClosure(c, 'deliver', fn(2), (deliver) => { seen = deliver; return (p, cb) => `wrapped ${deliver(p, cb)}` }, 'test', 'client')
    expect(seen).toBe(original)
    expect(c.deliver('x', undefined)).toBe('wrapped c1 got x')
  })

  it('checks the shape as patch does', () => {
    expect(() => patchClosure(client(), 'deliver', fn(3), (d) => d, 'why it matters', 'client'))
      .toThrow(expect.objectContaining({
        code: 'WARDEN_ERR_AEDES_CONTRACT',
        message: expect.stringMatching(/client\.deliver takes 2 parameters, expected 3.*why it matters/)
      }))
  })
})
