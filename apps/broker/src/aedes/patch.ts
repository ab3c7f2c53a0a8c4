// Checks and replaces an aedes internal, refusing to start when it is not what Warden was written against:
// an aedes upgrade that renames or reshapes an internal would otherwise leave a fix silently unapplied.
import { WardenError } from '@warden/common'

/** What an internal must be: a function taking `arity` declared parameters, or a value of that type. */
export type Shape =
  | { readonly type: 'function', readonly arity?: number }
  | { readonly type: 'number' | 'boolean' | 'object', readonly nullable?: true }

export const fn = (arity?: number): Shape => arity === undefined ? { type: 'function' } : { type: 'function', arity }
/** `nullable`: null is a valid value too (aedes's "none yet", e.g. a client's will) */
export const value = (type: 'number' | 'boolean' | 'object', nullable?: 'nullable'): Shape => nullable === undefined ? { type } : { type, nullable: true }

/**
 * Functions Warden installed. Wrappers of a wrapper are not checked for arity: the arity of aedes's own
 * function was checked when it was first replaced, and Warden's wrappers take fewer (no callback).
 */
const installed = new WeakSet<object>()

/** Throws WARDEN_ERR_AEDES_CONTRACT unless `target[name]` has `shape`. `where` names the object in the message. */
export function expectShape (target: object, name: string, shape: Shape, where: string, reason: string): void {
  const v = (target as Record<string, unknown>)[name]
  const found = v === null ? 'null' : typeof v
  let wrong: string | null = null
  if (found === 'null' && shape.type !== 'function' && shape.nullable === true) return
  const article = (t: string): string => `${/^[aeiou]/.test(t) ? 'an' : 'a'} ${t}`
  if (found !== shape.type) wrong = `is ${found === 'undefined' ? 'missing' : found === 'null' ? 'null' : article(found)}, expected ${article(shape.type)}`
  else if (shape.type === 'function' && shape.arity !== undefined && !installed.has(v as object) && (v as () => void).length !== shape.arity) {
    wrong = `takes ${(v as () => void).length} parameters, expected ${shape.arity}`
  }
  if (wrong !== null) {
    throw new WardenError('WARDEN_ERR_AEDES_CONTRACT', `aedes internal ${where}.${name} ${wrong} (Warden relies on it: ${reason})`)
  }
}

/**
 * Replaces `target[name]` with what `replacement` builds from the current one (bound to `target`), after
 * checking its shape. `reason`: the aedes behaviour the patch corrects, shown if the internal is gone.
 */
export function patch<T extends object, K extends keyof T & string> (
  target: T,
  name: K,
  shape: Shape,
  replacement: (original: T[K]) => T[K],
  reason: string,
  where = target.constructor?.name ?? 'object'
): void {
  expectShape(target, name, shape, where, reason)
  const current = target[name]
  const original = (typeof current === 'function' ? current.bind(target) : current) as T[K]
  const next = replacement(original)
  if (typeof next === 'function') installed.add(next)
  target[name] = next
}

/**
 * `patch` for a function aedes makes for each object as a closure over that object (a client's deliverQoS):
 * the original is kept as it is, with no bound copy of it per object, and the wrapper is not recorded in
 * `installed` (a weak table entry per object): a later wrapper finds the wrapper's own arity checked instead.
 */
export function patchClosure<T extends object, K extends keyof T & string> (
  target: T,
  name: K,
  shape: Shape,
  replacement: (original: T[K]) => T[K],
  reason: string,
  where: string
): void {
  expectShape(target, name, shape, where, reason)
  target[name] = replacement(target[name])
}

/**
 * `patch` for an internal of every connection (a client's parser, its socket): one replacement shared by all
 * of them, where `patch` would bind and wrap per object. `replacement` gets the unbound original and must
 * call it with `this`, the patched object; what it needs of the connection it finds from `this`.
 * Returns the installer: it checks the shape on each object, as `patch` does.
 */
export function patchEach<T extends object, K extends keyof T & string> (
  name: K,
  shape: Shape,
  replacement: (original: T[K]) => T[K],
  reason: string,
  where: string
): (target: T) => void {
  // the original every connection has (the class's method); one patched elsewhere first gets a wrapper of its own
  let common: T[K] | undefined
  let shared: T[K] | undefined
  const wrap = (original: T[K]): T[K] => {
    const next = replacement(original)
    if (typeof next === 'function') installed.add(next)
    return next
  }
  return (target) => {
    expectShape(target, name, shape, where, reason)
    const current = target[name]
    if (common === undefined) { common = current; shared = wrap(current) }
    target[name] = current === common ? shared as T[K] : wrap(current)
  }
}
