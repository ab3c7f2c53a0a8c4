// Parts of a fake aedes persistence for the store patches' unit tests: calls recorded, completed when the test
// says so, and the order promises settle in. It stands in for the store only — never for aedes.

/** one call of a held store method, completed by the test */
export interface HeldCall {
  readonly args: readonly unknown[]
  resolve (value?: unknown): void
  reject (err: Error): void
}

/** The calls of one store method; `call` is what the method's body returns (a promise the test completes). */
export interface Held {
  readonly calls: HeldCall[]
  call (...args: unknown[]): Promise<unknown>
}

export function held (): Held {
  const calls: HeldCall[] = []
  return {
    calls,
    call (...args) {
      return new Promise((resolve, reject) => { calls.push({ args, resolve, reject }) })
    }
  }
}

/** Records, in `order`, the label of each promise as it settles (`<label> rejected` for a rejection). */
export function settleOrder (promises: Readonly<Record<string, Promise<unknown>>>): string[] {
  const order: string[] = []
  for (const [label, p] of Object.entries(promises)) p.then(() => order.push(label), () => order.push(`${label} rejected`))
  return order
}

/** lets every promise continuation queued so far run */
export const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))
