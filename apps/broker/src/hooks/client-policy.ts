// Per-connection view of the rules: identity, resolved read grants, and small caches of decisions.
// One per connected client: the grants are resolved and the caches made at their first use, so an idle
// connection holds little more than its identity.
import type { Decision } from '../policy/decision.js'
import type { Identity } from '../policy/identity.js'
import type { OwnershipPolicy } from '../policy/ownership.js'
import { createReader, type Reader, type RoleSource } from '../policy/read-rules.js'

const CACHE_LIMIT = 1024

export class ClientPolicy {
  private current: Reader | undefined
  private readerVersion = -1
  private publishCache: Map<string, Decision> | undefined
  private publishVersion = -1
  private readCache: Map<string, boolean> | undefined

  constructor (readonly identity: Identity, private readonly roles: RoleSource, private readonly ownership: OwnershipPolicy) {}

  /**
   * The read grants, rebuilt at first use after a role changed: a client that was still connecting when the
   * change was applied gets it too, and a change to a role held by many clients costs nothing until they read.
   */
  get reader (): Reader {
    if (this.current === undefined || this.readerVersion !== this.roles.version) {
      this.current = createReader(this.identity, this.roles.table, this.ownership.replies)
      this.readerVersion = this.roles.version
      this.readCache?.clear()
    }
    return this.current
  }

  /**
   * SUBSCRIBE check. The grants resolved for it are kept only once the client reads: a device that subscribes
   * and then waits (most of them, most of the time) holds none.
   */
  canSubscribe (filter: string): boolean {
    const current = this.current !== undefined && this.readerVersion === this.roles.version ? this.current : undefined
    return (current ?? createReader(this.identity, this.roles.table, this.ownership.replies)).canSubscribe(filter)
  }

  decidePublish (topic: string): Decision {
    let cache = this.publishCache
    if (cache === undefined) {
      cache = this.publishCache = new Map()
      this.publishVersion = this.ownership.version
    } else if (this.publishVersion !== this.ownership.version) {
      cache.clear()
      this.publishVersion = this.ownership.version
    }
    let d = cache.get(topic)
    if (d === undefined) {
      d = this.ownership.decide(this.identity, topic)
      // a device publishes to a handful of topics; a client cycling through many just loses the cache
      if (cache.size >= CACHE_LIMIT) cache.clear()
      cache.set(topic, d)
    }
    return d
  }

  canRead (topic: string): boolean {
    const reader = this.reader
    if (reader.readsAllPlain && topic.charCodeAt(0) !== 36 && reader.replies === undefined) return true
    const cache = this.readCache ??= new Map()
    let ok = cache.get(topic)
    if (ok === undefined) {
      ok = reader.canRead(topic)
      if (cache.size >= CACHE_LIMIT) cache.clear()
      cache.set(topic, ok)
    }
    return ok
  }
}
