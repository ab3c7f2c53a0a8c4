// Per-connection view of the rules: identity, resolved read grants, and small caches of decisions.
import type { Decision } from '../policy/decision.js'
import type { Identity } from '../policy/identity.js'
import type { OwnershipPolicy } from '../policy/ownership.js'
import { createReader, type Reader, type RoleTable } from '../policy/read-rules.js'

const CACHE_LIMIT = 1024

export class ClientPolicy {
  readonly reader: Reader
  private readonly publishCache = new Map<string, Decision>()
  private publishVersion: number
  private readonly readCache = new Map<string, boolean>()

  constructor (readonly identity: Identity, roles: RoleTable, private readonly ownership: OwnershipPolicy) {
    this.reader = createReader(identity, roles)
    this.publishVersion = ownership.version
  }

  decidePublish (topic: string): Decision {
    if (this.publishVersion !== this.ownership.version) {
      this.publishCache.clear()
      this.publishVersion = this.ownership.version
    }
    let d = this.publishCache.get(topic)
    if (d === undefined) {
      d = this.ownership.decide(this.identity, topic)
      // a device publishes to a handful of topics; a client cycling through many just loses the cache
      if (this.publishCache.size >= CACHE_LIMIT) this.publishCache.clear()
      this.publishCache.set(topic, d)
    }
    return d
  }

  canRead (topic: string): boolean {
    const reader = this.reader
    if (reader.readsAllPlain && topic.charCodeAt(0) !== 36) return true
    let ok = this.readCache.get(topic)
    if (ok === undefined) {
      ok = reader.canRead(topic)
      if (this.readCache.size >= CACHE_LIMIT) this.readCache.clear()
      this.readCache.set(topic, ok)
    }
    return ok
  }
}
