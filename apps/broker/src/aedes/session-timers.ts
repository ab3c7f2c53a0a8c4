// aedes 2.0.0-beta.1 keeps each MQTT 5 session's expiry in a timer of the process that had the client: lost on
// restart (#839, the session then lives forever), and in a cluster it wipes a session that has meanwhile
// resumed on another process. Warden keeps the deadline in the store instead (sessions/session-expiry.ts) and
// lets aedes do only what is due at once: wipe a session whose Session Expiry Interval is 0 — unless the
// client id was taken over on another process, whose new connection now holds that session. Nor does it arm
// such a connection's delayed will: the session goes on elsewhere, so the will is not sent (MQTT-3.1.3-9);
// aedes cancels it only for a takeover on its own process.
import type { Aedes, Client } from 'aedes'
import { sessionExpiryOf } from './accessors.js'
import { brokerInternals } from './internals.js'
import { fn, patch } from './patch.js'

export function storeSessionExpiry (broker: Aedes, isTakenOver: (client: Client) => boolean): void {
  const b = brokerInternals(broker)
  patch(b, 'scheduleWill', fn(3), (schedule) => (client, will, delay) => {
    if (!isTakenOver(client)) schedule(client, will, delay)
  }, 'aedes 2.0.0-beta.1 publishes the delayed will of a session resumed on another process (MQTT-3.1.3-9)', 'broker')
  patch(b, 'scheduleSessionExpiry', fn(1), (schedule) => (client) => {
    if (isTakenOver(client)) return
    if (sessionExpiryOf(client) === 0) schedule(client)
  }, 'aedes 2.0.0-beta.1 keeps MQTT 5 session expiry in a per-process timer (#839): lost on restart, wrong in a cluster', 'broker')
}
