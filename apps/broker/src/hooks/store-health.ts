// While Redis is unreachable (store/redis-health.ts), a new CONNECT is refused with "server unavailable"
// (3.1.1 return code 3, MQTT 5 0x88) and audited, instead of hanging on a store that does not answer: its
// session, client-id binding and queued messages all live in Redis. Clients already connected stay, and
// what they send is held until Redis is back. Devices retry, and get in once Redis answers again.
import type { Audit } from '../audit/audit.js'
import { remoteAddressOf } from '../aedes/client-internals.js'
import { normalizeAddress } from '../net/address.js'
import type { HookStage } from './pipeline.js'
import { connectRefusal, V5 } from './reason-codes.js'

export function storeHealthStage (up: () => boolean, audit: Audit): HookStage {
  return {
    name: 'store-health',
    authenticate (client, username, password, cb, next) {
      if (up()) { next(client, username, password, cb); return }
      audit.record({
        kind: 'connect',
        reason: 'store-unavailable',
        username,
        clientId: client.id,
        address: normalizeAddress(remoteAddressOf(client)),
        detail: 'Redis is unreachable: new connections are refused until it answers again'
      })
      cb(connectRefusal(3, 'server unavailable', V5.SERVER_UNAVAILABLE), null)
    }
  }
}
