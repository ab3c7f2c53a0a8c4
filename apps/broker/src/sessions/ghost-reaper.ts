// aedes registers a client at the end of its CONNECT steps (after authentication and store look-ups)
// without asking whether the socket closed meanwhile; its close() ran before, when the client was not yet
// registered, so nothing would ever remove it: a "ghost" listed as connected forever (and holding its
// client id). Remove it as soon as it is registered.
import type { Aedes, Client } from 'aedes'
import { clientsOf, unregisterClient } from '../aedes/accessors.js'

export function reapGhosts (broker: Aedes, onReaped: (client: Client) => void): void {
  broker.on('client', (client) => {
    if (!client.closed || clientsOf(broker)[client.id] !== client) return
    unregisterClient(broker, client)
    onReaped(client)
  })
}
