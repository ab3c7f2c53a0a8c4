// aedes registers a client at the end of its CONNECT steps (after authentication and store look-ups)
// without asking whether the socket closed meanwhile; its close() ran before, when the client was not yet
// registered, so nothing would ever remove it: a "ghost" listed as connected forever (and holding its
// client id). Remove it as soon as it is registered.
import type { Aedes, Client } from 'aedes'

interface Registry { clients: Record<string, Client | undefined>, unregisterClient (client: Client): void }

export function reapGhosts (broker: Aedes, onReaped: (client: Client) => void): void {
  const b = broker as unknown as Registry
  broker.on('client', (client) => {
    if (!(client as unknown as { closed: boolean }).closed || b.clients[client.id] !== client) return
    b.unregisterClient(client)
    onReaped(client)
  })
}
