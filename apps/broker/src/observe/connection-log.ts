// Client connects and disconnects in the log at info, one line each — sampled under a storm (a fleet booting,
// a client in a reconnect loop) by the audit's sampler: past its burst they are counted, not each written,
// and the next line written says how many were left out (`suppressed`).
import type { Aedes, Client } from 'aedes'
import type { Logger } from '@warden/common'
import { remoteAddressOf } from '../aedes/client-internals.js'
import { createAuditSampler, type AuditSampler } from '../audit/audit-sampler.js'

export interface ConnectionLogDeps {
  /** the account a client logged in with (undefined: anonymous) */
  readonly usernameOf: (client: Client) => string | undefined
  readonly sampler?: AuditSampler
  readonly now?: () => number
}

export function logConnections (broker: Aedes, logger: Logger, { usernameOf, sampler = createAuditSampler(), now = Date.now }: ConnectionLogDeps): void {
  const line = (key: 'connect' | 'disconnect', msg: string) => (client: Client): void => {
    const suppressed = sampler.admit(key, now())
    if (suppressed === null) return
    logger.info({
      clientId: client.id,
      username: usernameOf(client),
      address: remoteAddressOf(client),
      ...(suppressed > 0 ? { suppressed } : {})
    }, msg)
  }
  broker.on('client', line('connect', 'client connected'))
  broker.on('clientDisconnect', line('disconnect', 'client disconnected'))
}
