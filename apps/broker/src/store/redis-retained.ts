// The retained messages a SUBSCRIBE's filters match, read from aedes-persistence-redis's `retained` hash (topic →
// msgpack packet), in place of its own read. That one scans the hash with one HSCAN whose MATCH pattern is the
// wildcard filters' longest common literal prefix followed by '*': a '[', '*', '?' or '\' in that prefix, legal in
// a topic, was read as glob syntax, so `a[b]/+` never got the retained `a[b]/c`. Here the prefix is escaped.
// (Its dedupe of a topic matched by an exact filter and a wildcard one read the topic of the undecoded bytes.)
import type { Redis } from 'ioredis'
import msgpack from 'msgpack-lite'
import { matchTopic } from '../policy/topic.js'
import type { StoredPacket } from '../aedes/store.js'

const RETAINED = 'retained'

const wildcardAt = (filter: string): number => {
  const plus = filter.indexOf('+')
  return plus >= 0 ? plus : filter.indexOf('#')
}

function commonPrefix (strings: readonly string[]): string {
  let p = strings[0] ?? ''
  for (const s of strings) while (!s.startsWith(p)) p = p.slice(0, -1)
  return p
}

/**
 * `filter` matches `topic` as aedes-persistence-redis matched them (qlobber): a wildcard first level matches a '$'
 * topic too (MQTT-4.7.2-1 is applied by aedes as it delivers; the retained quota counts every topic with '#')
 */
function matches (filter: string, topic: string): boolean {
  if (topic.charCodeAt(0) !== 36 || (filter.charCodeAt(0) !== 43 && filter.charCodeAt(0) !== 35)) return matchTopic(filter, topic)
  return matchTopic(filter, '_' + topic.slice(1))
}

/** a Redis glob matching `literal` exactly: its own glob characters escaped */
export const globLiteral = (literal: string): string => literal.replace(/[\\*?[\]]/g, '\\$&')

export async function * matchRetained (db: Redis, filters: readonly string[]): AsyncGenerator<StoredPacket> {
  const sent = new Set<string>()
  const wildcards: string[] = []
  for (const f of filters) {
    if (wildcardAt(f) >= 0) { wildcards.push(f); continue }
    const value = await db.hgetBuffer(RETAINED, f)
    if (value === null) continue
    const packet = msgpack.decode(value) as StoredPacket
    sent.add(packet.topic)
    yield packet
  }
  if (wildcards.length === 0) return
  // without the '/' before the wildcard, as aedes-persistence-redis does: 'a/#' matches 'a' too
  const match = globLiteral(commonPrefix(wildcards.map((f) => f.slice(0, Math.max(0, wildcardAt(f) - 1))))) + '*'
  for await (const data of db.hscanBufferStream(RETAINED, { match })) {
    const pairs = data as Buffer[]
    for (let i = 0; i + 1 < pairs.length; i += 2) {
      const topic = (pairs[i] as Buffer).toString()
      if (sent.has(topic) || !wildcards.some((f) => matches(f, topic))) continue
      sent.add(topic)
      yield msgpack.decode(pairs[i + 1] as Buffer) as StoredPacket
    }
  }
}
