// A connection taken over on this process while its stored queue is still being sent — CONNACK already out,
// aedes's connect steps not over — is told DISCONNECT 0x8E too (MQTT-3.1.4-3). aedes 2.0.0-beta.1's
// registerClient asks the old client to disconnect with 0x8E, but client.disconnect writes the packet only to
// a client that is `connected`, which it becomes at the end of those steps: that one was closed with nothing.
// One not yet CONNACKed never gets here: sessions/connect-order.ts lets no newer CONNECT of its id register
// before it has its CONNACK (and a DISCONNECT before CONNACK is not allowed: MQTT-3.14.0-1).
import type { Aedes, Client } from 'aedes'
import { clientsOf } from './accessors.js'
import { brokerInternals } from './internals.js'
import { fn, patch } from './patch.js'
import { disconnectBeforeReady } from './v5-answers.js'

const WHY = 'beta.1 closes a connection taken over between its CONNACK and the end of its connect steps without DISCONNECT 0x8E (MQTT-3.1.4-3)'

/** `reasonCode`: Session taken over (0x8E) */
export function disconnectTakenOverBeforeReady (broker: Aedes, reasonCode: number): void {
  patch(brokerInternals(broker), 'registerClient', fn(1), (register) => (client: Client) => {
    const old = clientsOf(broker)[client.id]
    if (old !== undefined && old !== client) disconnectBeforeReady(old, reasonCode)
    register(client)
  }, WHY, 'broker')
}
