// A QoS 2 message published again after a crash (qos2-guard.ts) is published without its client, maybe after
// its owner was revoked or its account deleted: it is judged like a will published later (recorded-owner.ts),
// and a refusal is audited as a refused publish.
import type { PublishPacket } from 'aedes'
import type { UserDirectory } from '../auth/user-directory.js'
import type { OwnershipPolicy } from '../policy/ownership.js'
import type { Audit } from '../audit/audit.js'
import { decideRecordedOwner, judgeLater, recordOwner, type RecordedOwner } from './recorded-owner.js'

export interface Qos2Recheck {
  /** the account publishing through `client` now, recorded with its stored message; undefined: none */
  ownerOf (client: object): RecordedOwner | undefined
  /** may the stored message of `clientId` be published now? A refusal is audited. */
  allows (packet: Pick<PublishPacket, 'topic' | 'payload' | 'qos'>, owner: RecordedOwner | undefined, clientId: string): boolean
}

export interface RecheckDeps {
  directory: UserDirectory
  ownership: OwnershipPolicy
  audit: Audit
  /** the username a connected client logged in with */
  usernameOf: (client: object) => string | undefined
}

export function createQos2Recheck ({ directory, ownership, audit, usernameOf }: RecheckDeps): Qos2Recheck {
  return {
    ownerOf (client) {
      const username = usernameOf(client)
      const account = username !== undefined ? directory.accounts.get(username) : undefined
      return account !== undefined ? recordOwner(account) : undefined
    },
    allows (packet, owner, clientId) {
      const judged = decideRecordedOwner(owner, packet.topic, clientId, directory.accounts, ownership, 'message')
      return judgeLater(judged, packet, { kind: 'publish', clientId, otherwise: 'a QoS 2 message stored before a crash, published later' }, audit)
    }
  }
}
