// What the control plane shows of connected clients; aedes's private fields are read through ../aedes/.
import type { Aedes, Client } from 'aedes'
import { outlivesConnection, subscriptionFilters, subscriptionsOf as clientSubscriptions } from '../aedes/accessors.js'
import { remoteAddressOf } from '../aedes/client-internals.js'
import type { WardenHooks } from '../hooks/hooks.js'
import { connectedClients } from '../registry/live-rules.js'

export interface SubscriptionView { readonly filter: string, readonly qos: number }

export interface ClientView {
  readonly clientId: string
  /** null for anonymous clients */
  readonly username: string | null
  readonly roles: readonly string[]
  readonly address: string | null
  readonly connectedAt: string | null
  /** the session ends with this connection */
  readonly clean: boolean
  readonly subscriptions: readonly SubscriptionView[]
  /** bytes written to the socket but not yet sent (a slow reader's backlog) */
  readonly queuedBytes: number
}

export function subscriptionsOf (client: Client): SubscriptionView[] {
  const subs = clientSubscriptions(client)
  const out: SubscriptionView[] = []
  for (const filter of subscriptionFilters(client)) {
    const s = subs[filter]
    if (s !== undefined) out.push({ filter, qos: s.qos })
  }
  return out
}

export function queuedBytesOf (client: Client): number {
  return (client.conn as Client['conn'] | undefined)?.writableLength ?? 0
}

export function viewClients (broker: Aedes, hooks: WardenHooks, connectedAt: (client: Client) => number | undefined): ClientView[] {
  const out: ClientView[] = []
  for (const client of connectedClients(broker)) {
    const identity = hooks.policyOf(client)?.identity
    const at = connectedAt(client)
    out.push({
      clientId: client.id,
      username: identity?.username ?? null,
      roles: identity?.roles ?? [],
      address: remoteAddressOf(client) ?? null,
      connectedAt: at !== undefined ? new Date(at).toISOString() : null,
      clean: !outlivesConnection(client),
      subscriptions: subscriptionsOf(client),
      queuedBytes: queuedBytesOf(client)
    })
  }
  return out.sort((a, b) => a.clientId.localeCompare(b.clientId))
}
