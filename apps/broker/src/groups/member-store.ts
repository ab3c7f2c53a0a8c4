// Where group membership lives beyond one process's memory: a JSON file under dataDir (one process: the
// persistent members, so a restarted broker keeps queueing for them), or Redis (cluster: every member and
// the process it is connected to, read by every process).
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Redis } from 'ioredis'
import { writeFileAtomic } from '@warden/common'
import type { MemberRecord, Members } from './types.js'

export interface MemberStore {
  /** true when several processes share it (Redis): its records are the truth, the others replicas */
  readonly shared: boolean
  loadAll (): Promise<Map<string, Members>>
  loadGroup (key: string): Promise<Members>
  put (key: string, clientId: string, rec: MemberRecord): Promise<void>
  /** replaces (or, with null, removes) a member only while it is recorded as connected to `broker` */
  release (key: string, clientId: string, broker: string, rec: MemberRecord | null): Promise<boolean>
  remove (key: string, clientId: string): Promise<void>
  close (): Promise<void>
}

export function sharedGroupsFile (dataDir: string): string {
  return join(dataDir, 'shared-groups.json')
}

/** One process: all records in memory; the persistent ones also in `file` (none for `persistence: memory`). */
export async function createLocalMemberStore (file: string | undefined): Promise<MemberStore> {
  const groups = new Map<string, Members>()
  if (file !== undefined) {
    try {
      const saved = JSON.parse(await readFile(file, 'utf8')) as Record<string, Record<string, { qos: 0 | 1 | 2 }>>
      for (const [key, members] of Object.entries(saved)) {
        groups.set(key, new Map(Object.entries(members).map(([id, m]) => [id, { qos: m.qos, persistent: true, broker: null }])))
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
  }
  let writing = Promise.resolve()
  let saved = file === undefined ? '' : serialize(groups)
  const save = (): Promise<void> => {
    if (file === undefined) return Promise.resolve()
    const data = serialize(groups)
    if (data === saved) return writing
    saved = data
    writing = writing.then(async () => {
      // written on every change: atomic, not fsynced (a power loss loses the last changes, never the file)
      await writeFileAtomic(file, data)
    })
    return writing
  }
  const drop = (key: string, clientId: string): void => {
    const g = groups.get(key)
    g?.delete(clientId)
    if (g?.size === 0) groups.delete(key)
  }
  return {
    shared: false,
    async loadAll () { return new Map([...groups].map(([k, m]) => [k, new Map(m)])) },
    async loadGroup (key) { return new Map(groups.get(key)) },
    async put (key, clientId, rec) {
      let g = groups.get(key)
      if (g === undefined) { g = new Map(); groups.set(key, g) }
      g.set(clientId, rec)
      await save()
    },
    async release (key, clientId, broker, rec) {
      if (groups.get(key)?.get(clientId)?.broker !== broker) return false
      if (rec === null) drop(key, clientId); else groups.get(key)?.set(clientId, rec)
      await save()
      return true
    },
    async remove (key, clientId) {
      drop(key, clientId)
      await save()
    },
    async close () { await writing }
  }
}

function serialize (groups: Map<string, Members>): string {
  // no prototype: a client id '__proto__' is a key like any other (assigned into {}, it set the prototype and was lost)
  const out: Record<string, Record<string, { qos: number }>> = Object.create(null)
  for (const [key, members] of groups) {
    for (const [id, m] of members) {
      if (!m.persistent) continue
      out[key] ??= Object.create(null) as Record<string, { qos: number }>
      out[key][id] = { qos: m.qos }
    }
  }
  return JSON.stringify(out)
}

const GROUPS = 'warden:share:groups'
const membersKey = (key: string): string => `warden:share:m:${key}`

// compare-and-set on the member's broker: a member that reconnected elsewhere meanwhile is left alone
const RELEASE = `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
if cjson.decode(v).broker ~= ARGV[2] then return 0 end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  if redis.call('HLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[4]) end
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
end
return 1`

const REMOVE = `
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[2]) end
return 1`

/** Cluster: a hash of members per group, and a set of the groups. */
export function createRedisMemberStore (redis: Redis): MemberStore {
  const parse = (h: Record<string, string>): Members => {
    const m: Members = new Map()
    for (const [id, v] of Object.entries(h)) {
      try {
        const r = JSON.parse(v) as MemberRecord
        m.set(id, { qos: r.qos, persistent: r.persistent, broker: r.broker ?? null })
      } catch {}
    }
    return m
  }
  const loadGroup = async (key: string): Promise<Members> => parse(await redis.hgetall(membersKey(key)))
  return {
    shared: true,
    async loadAll () {
      const out = new Map<string, Members>()
      for (const key of await redis.smembers(GROUPS)) {
        const m = await loadGroup(key)
        if (m.size > 0) out.set(key, m)
      }
      return out
    },
    loadGroup,
    async put (key, clientId, rec) {
      await redis.multi().sadd(GROUPS, key).hset(membersKey(key), clientId, JSON.stringify(rec)).exec()
    },
    async release (key, clientId, broker, rec) {
      const r = await redis.eval(RELEASE, 2, membersKey(key), GROUPS, clientId, broker, rec === null ? '' : JSON.stringify(rec), key)
      return r === 1
    },
    async remove (key, clientId) {
      await redis.eval(REMOVE, 2, membersKey(key), GROUPS, clientId, key)
    },
    async close () {}
  }
}
