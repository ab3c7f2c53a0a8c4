// Reading a client's subscriptions leaves nothing on it: each aedes client's subscriptions object has its own
// filters as keys (a hidden class of its own), and `for…in` or Object.keys on it would leave an enum cache there
// for as long as the client lives — paid by every idle connection once $SYS stats or a status counted them.
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { Client } from 'aedes'
import { describe, expect, it } from 'vitest'
import { subscriptionFilters } from '../../apps/broker/src/aedes/accessors.js'
import { subscriptionsOf } from '../../apps/broker/src/observe/client-view.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/** clients as aedes leaves them after a SUBSCRIBE to a filter of their own */
function idleClients (n: number): Client[] {
  const out: Client[] = []
  for (let i = 0; i < n; i++) {
    const subscriptions: Record<string, { qos: number }> = {}
    subscriptions[`devices/dev-${i}/cmd/#`] = { qos: 1 }
    if (i % 2 === 0) subscriptions[`${i}`] = { qos: 0 } // an integer-like filter comes first, as with for…in
    out.push({ subscriptions } as unknown as Client)
  }
  return out
}

/** the filters as `for…in` lists them */
function forInFilters (c: Client): string[] {
  const out: string[] = []
  for (const f in (c as unknown as { subscriptions: object }).subscriptions) out.push(f)
  return out
}

/**
 * bytes of heap per client that `read` leaves behind, after a full collection: the least of three tries on
 * 20,000 clients, each read once before (its code compiled), so that what else the process allocates meanwhile
 * does not count
 */
function leftPerClient (read: (c: Client) => unknown): number {
  for (const c of idleClients(100)) read(c)
  let least = Infinity
  for (let attempt = 0; attempt < 3; attempt++) {
    const clients = idleClients(20_000)
    gc()
    const before = process.memoryUsage().heapUsed
    for (const c of clients) read(c)
    gc()
    const after = process.memoryUsage().heapUsed
    expect(clients).toHaveLength(20_000) // kept alive through both readings
    least = Math.min(least, (after - before) / clients.length)
  }
  return least
}

describe('subscriptionFilters', () => {
  it('lists the filters in for…in order', () => {
    const [even, odd] = idleClients(2) as [Client, Client]
    expect(subscriptionFilters(even)).toEqual(forInFilters(even))
    expect(subscriptionFilters(even)).toEqual(['0', 'devices/dev-0/cmd/#'])
    expect(subscriptionFilters(odd)).toEqual(['devices/dev-1/cmd/#'])
  })

  it('leaves nothing on the clients it reads (for…in leaves an enum cache on each)', () => {
    expect(leftPerClient((c) => forInFilters(c).length)).toBeGreaterThan(40) // the cost this avoids, ~60 bytes a client
    expect(leftPerClient((c) => subscriptionFilters(c).length)).toBeLessThan(10)
    // what status, metrics and $SYS/warden/stats count with
    expect(leftPerClient((c) => subscriptionsOf(c).length)).toBeLessThan(10)
  })
})
