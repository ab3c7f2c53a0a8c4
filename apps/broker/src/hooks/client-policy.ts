// Per-connection view of the rules: identity, resolved read grants, and small caches of decisions.
import type { Decision } from '../policy/decision.js'
import type { Identity } from '../policy/identity.js'
import type { OwnershipPolicy } from '../policy/ownership.js'
import { createReader, type Reader, type RoleSource } from '../policy/read-rules.js'

const CACHE_LIMIT = 1024

export class ClientPolicy {
  private current: Reader
  private readerVersion: number
  private readonly publishCache = new Map<string, Decision>()
  private publishVersion: number
  private readonly readCache = new Map<string, boolean>()

  constructor (readonly identity: Identity, private readonly roles: RoleSource, private readonly ownership: OwnershipPolicy) {
    this.current = createReader(identity, roles.table, ownership.replies)
    this.readerVersion = roles.version
    this.publishVersion = ownership.version
  }

  /**
   * The read grants, rebuilt at first use after a role changed: a client that was still connecting when the
   * change was applied gets it too, and a change to a role held by many clients costs nothing until they read.
   */
  get reader (): Reader {
    if (this.readerVersion !== this.roles.version) {
      this.current = createReader(this.identity, this.roles.table, this.ownership.replies)
      this.readerVersion = this.roles.version
      this.readCache.clear()
    }
    return this.current
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
    if (reader.readsAllPlain && topic.charCodeAt(0) !== 36 && reader.replies === undefined) return true
    let ok = this.readCache.get(topic)
    if (ok === undefined) {
      ok = reader.canRead(topic)
      if (this.readCache.size >= CACHE_LIMIT) this.readCache.clear()
      this.readCache.set(topic, ok)
    }
    return ok
  }
}
