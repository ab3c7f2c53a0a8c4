// The filters each connected client was granted, counted for limits.maxSubscriptionsPerClient. Most devices
// hold one: it is kept as the string itself, and a Set is made at the second (a Set each was ~150 bytes a
// connection).
import type { Client } from 'aedes'
import { clientSlot } from '../aedes/client-slot.js'

const granted = clientSlot<string | Set<string>>('grantedFilters')

export class GrantedFilters {
  private readonly byClient = granted

  count (client: Client): number {
    const g = this.byClient.get(client)
    return g === undefined ? 0 : typeof g === 'string' ? 1 : g.size
  }

  has (client: Client, filter: string): boolean {
    const g = this.byClient.get(client)
    return typeof g === 'string' ? g === filter : g?.has(filter) === true
  }

  add (client: Client, filter: string): void {
    const g = this.byClient.get(client)
    if (g === undefined) this.byClient.set(client, filter)
    else if (typeof g !== 'string') g.add(filter)
    else if (g !== filter) this.byClient.set(client, new Set([g, filter]))
  }

  remove (client: Client, filters: readonly string[]): void {
    const g = this.byClient.get(client)
    if (typeof g === 'string') { if (filters.includes(g)) this.byClient.delete(client) } else if (g !== undefined) for (const f of filters) g.delete(f)
  }
}
