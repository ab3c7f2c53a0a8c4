// Group commit for the Redis queue store (redis-queues.ts): the queue writes of one event-loop turn go to
// Redis as one Lua script call, run atomically and in the order they were made. A caller that must not go
// on before its write is in Redis (a message queued before its publisher's PUBACK, a QoS 2 packet id or
// PUBREL before it is sent) awaits the write's promise; one that may lose its write in a crash (an
// acknowledged message's removal, a QoS 1 packet id) does not. Profiled: ioredis spends more per command
// (its objects, promises and garbage) than Redis does running it, and a persistent subscriber's QoS 1
// message was four commands; here it is a share of one per turn.
import type { Redis } from 'ioredis'

// The operations travel as one argument, a msgpack array that the script unpacks with Redis's own cmsgpack
// (ioredis's cost grows with the number of arguments: every one is converted and copied), each item a
// msgpack string (cmsgpack reads no msgpack bin type; a Lua string holds any bytes). Keys are named in the
// operations, not in KEYS: Warden's Redis is one server or a Sentinel-watched master, never a Redis Cluster.
//   E n m packet value cap queue × n (queue own value) × m
//                                        queue a message (aedes-persistence-redis's MSET and RPUSHes); the
//                                        count (<packet>:offlineCount) is of listings: a message already there
//                                        (queued in two calls, its subscriptions granted two QoS: queued-qos.ts;
//                                        or a call ioredis resent after Redis, which had run it, restarted) is
//                                        counted up by n, where setting it to n had the first queues'
//                                        acknowledgements remove the message from the others; counted up
//                                        first (INCRBY), a count left without its message is then set over
//                                        (EXISTS, SET: commands only then). `cap` (else empty): the QoS these
//                                        queues' copy was capped at, below the published one (queued-qos.ts):
//                                        it goes in each queue's hash of ids (<queue>:ids, field
//                                        <brokerId>:<counter>:qos), and the record is written only if not there
//                                        yet, so that the published form, written by the call for the queues
//                                        granted it, is the record's; without it, that call's form replaced the
//                                        capped one, and a QoS 1 subscriber was sent the message at QoS 2.
//                                        The m queues given as (queue own value) hold the message under the
//                                        client's own key (outgoing:<client>:<brokerId>:<counter>) with the
//                                        packet id it was given as it was queued (aedes/queued-ids.ts): what
//                                        `S` writes once it is sent, written now, so that nothing is written
//                                        when it is sent. An own key there already (a call resent after Redis
//                                        restarted) is neither written over nor listed nor counted again
//   S queue packet sent value            a QoS 2 PUBLISH as sent to a client (with its packet id) takes its
//                                        message's entry in the queue, in place, under the client's own key;
//                                        already there (sent again), it is written over; in no queue, nothing
//   I queue field id                     the packet id a QoS 1 message (field: <brokerId>:<counter>) was sent
//                                        under, in the client's hash of them (<queue>:ids); held back for
//                                        HOLD_MS first (see `sentId`)
//   P queue packet sent value            a PUBREL: the client's own key goes to the end of the queue (as
//                                        aedes-persistence-redis's LREM and RPUSH do) and holds the PUBREL
//   A queue entry packet                 an acknowledgement: the entry ('' when it is the message's key, as
//                                        a QoS 1 message's is) leaves the queue, and the message is
//                                        counted off (removed with its last queue) only if this queue held
//                                        it, so that a late or repeated one never takes it from another
//                                        subscriber; an entry given as the message's key that the queue holds
//                                        under the client's own key (a sent message dropped unsent again) is
//                                        that one; the message's fields in the client's hash of ids go (if the
//                                        hash exists: looked up once per call and queue); the
//                                        count (<packet>:offlineCount) goes down by the listings the queue gave
//                                        up (a message listed twice by a resent call is listed twice in it)
// The message's record (packet:…) is one for all its subscribers and is never given a packet id: one written
// there was the id of whichever subscriber was sent it last, and after a crash the others were sent it again
// under that id (a QoS 2 receiver tells messages apart by packet id). A QoS 1 message stays in the queue
// under the message's key, as aedes-persistence-redis has it, which acknowledges it there (a worker not yet
// upgraded); its id is in the hash, which that store does not read (it sends the message under a new id).
//   D queue                              a queue deleted: each message in it counted off (one under the
//                                        client's own key only if that key was still there: a worker not yet
//                                        upgraded removes the key on PUBCOMP and leaves the entry), then the
//                                        queue and the client's hash of ids deleted
//   H key field value                    a hash field (aedes-persistence-redis's HSET of an incoming packet: the
//                                        QoS 2 guard's mark, in the call that queues its message, and every
//                                        incoming QoS 2 packet and record: redis-queues.ts)
//   X key field                          a hash field removed (an incoming packet or record: HDEL)
//   K key                                a key deleted (a client's incoming packets: DEL)
//   G key field                          a hash field read (an incoming packet: HGET), after every write made
//                                        before it; the call answers the fields it read, in order (nil: none)
const SCRIPT = `
local t = cmsgpack.unpack(ARGV[1])
local out = {}
-- whether a client's hash of ids (<queue>:ids) exists, by key, as this call found or made it: an acknowledgement
-- removes its message's fields only from one that does (most are never written: HOLD_MS)
local idsHere = {}
local i = 1
while i <= #t do
  local op = t[i]
  if op == 'E' then
    local n, m = tonumber(t[i + 1]), tonumber(t[i + 2])
    local pkt, cap = t[i + 3], t[i + 5]
    local owned = i + 6 + n
    local fresh = {}
    for j = owned, owned + 3 * (m - 1), 3 do
      if redis.call('SET', t[j + 1], t[j + 2], 'NX') then fresh[#fresh + 1] = j end
    end
    local k = n + #fresh
    if k > 0 then
      local count = pkt .. ':offlineCount'
      if redis.call('INCRBY', count, k) ~= k and redis.call('EXISTS', pkt) == 0 then redis.call('SET', count, k) end
      if cap == '' then redis.call('SET', pkt, t[i + 4]) else redis.call('SET', pkt, t[i + 4], 'NX') end
    end
    for j = 1, n do
      redis.call('RPUSH', t[i + 5 + j], pkt)
      if cap ~= '' then
        redis.call('HSET', t[i + 5 + j] .. ':ids', string.sub(pkt, 8) .. ':qos', cap)
        idsHere[t[i + 5 + j] .. ':ids'] = true
      end
    end
    for _, j in ipairs(fresh) do redis.call('RPUSH', t[j], t[j + 1]) end
    i = owned + 3 * m
  elseif op == 'S' then
    if redis.call('LINSERT', t[i + 1], 'BEFORE', t[i + 2], t[i + 3]) > 0 then
      redis.call('LREM', t[i + 1], 1, t[i + 2])
      redis.call('SET', t[i + 3], t[i + 4])
    else
      redis.call('SET', t[i + 3], t[i + 4], 'XX')
    end
    i = i + 5
  elseif op == 'I' then
    redis.call('HSET', t[i + 1] .. ':ids', t[i + 2], t[i + 3])
    idsHere[t[i + 1] .. ':ids'] = true
    i = i + 4
  elseif op == 'P' then
    if redis.call('LREM', t[i + 1], 1, t[i + 3]) == 1 or redis.call('LREM', t[i + 1], 0, t[i + 2]) == 1 then
      redis.call('RPUSH', t[i + 1], t[i + 3])
    end
    redis.call('SET', t[i + 3], t[i + 4])
    i = i + 5
  elseif op == 'D' then
    local q = t[i + 1]
    for _, e in ipairs(redis.call('LRANGE', q, 0, -1)) do
      local pkt = e
      local held = 1
      if string.sub(e, 1, 7) ~= 'packet:' then
        pkt = 'packet' .. string.sub(e, #q + 1)
        held = redis.call('DEL', e)
      end
      local count = pkt .. ':offlineCount'
      if held > 0 and redis.call('DECR', count) <= 0 then redis.call('DEL', pkt, count) end
    end
    redis.call('DEL', q, q .. ':ids')
    idsHere[q .. ':ids'] = false
    i = i + 2
  elseif op == 'H' then
    redis.call('HSET', t[i + 1], t[i + 2], t[i + 3])
    idsHere[t[i + 1]] = true
    i = i + 4
  elseif op == 'X' then
    redis.call('HDEL', t[i + 1], t[i + 2])
    i = i + 3
  elseif op == 'K' then
    redis.call('DEL', t[i + 1])
    idsHere[t[i + 1]] = false
    i = i + 2
  elseif op == 'G' then
    out[#out + 1] = redis.call('HGET', t[i + 1], t[i + 2])
    i = i + 3
  else
    local q, pkt = t[i + 1], t[i + 3]
    local entry = t[i + 2]
    if entry == '' then entry = pkt end
    local count = pkt .. ':offlineCount'
    local listed = redis.call('LREM', q, 0, entry)
    local held = listed
    if entry ~= pkt then
      held = held + redis.call('DEL', entry)
      if held > 0 then listed = 1 + redis.call('LREM', q, 0, pkt) end
    elseif held == 0 then
      local own = q .. string.sub(pkt, 7)
      held = redis.call('LREM', q, 1, own) + redis.call('DEL', own)
      listed = 1
    end
    local ids = q .. ':ids'
    if idsHere[ids] == nil then idsHere[ids] = redis.call('EXISTS', ids) == 1 end
    if idsHere[ids] then
      local field = string.sub(pkt, 8)
      redis.call('HDEL', ids, field, field .. ':qos')
    end
    if held > 0 and redis.call('DECRBY', count, listed) <= 0 then redis.call('DEL', pkt, count) end
    i = i + 4
  end
end
return out`

/** operations per script call at most: a script holds Redis while it runs */
const MAX_OPS = 512
/**
 * How long a QoS 1 message's packet id waits before it is written: most are acknowledged sooner (a round trip
 * to the subscriber), and an acknowledgement cancels the write (and its removal stays in the `A` operation's
 * HDEL, which also removes an id another worker wrote). `settled()` writes every id held, so a binding released
 * or a takeover answered (redis-bindings.ts) and a session's queue read here (redis-queues.ts) still follow
 * them; only a crash within HOLD_MS loses one, as a crash lost an id not yet written before: the message is
 * sent again under a new id, which QoS 1 allows.
 */
const HOLD_MS = 50

/** a msgpack array of strings (str 8/16/32 headers whatever the bytes): what cmsgpack unpacks into a table */
export function packItems (items: ReadonlyArray<string | Buffer>): Buffer {
  const lengths = items.map((x) => typeof x === 'string' ? Buffer.byteLength(x) : x.length)
  let size = 5
  for (const n of lengths) size += n + (n < 32 ? 1 : n < 256 ? 2 : n < 65536 ? 3 : 5)
  const out = Buffer.allocUnsafe(size)
  out[0] = 0xdd // array 32
  let o = out.writeUInt32BE(items.length, 1)
  for (let i = 0; i < items.length; i++) {
    const x = items[i] as string | Buffer
    const n = lengths[i] as number
    if (n < 32) {
      out[o++] = 0xa0 | n
    } else if (n < 256) {
      out[o++] = 0xd9
      out[o++] = n
    } else if (n < 65536) {
      out[o++] = 0xda
      o = out.writeUInt16BE(n, o)
    } else {
      out[o++] = 0xdb
      o = out.writeUInt32BE(n, o)
    }
    o += typeof x === 'string' ? out.write(x, o) : x.copy(out, o)
  }
  return out
}

/** the fields the call's `G` operations read, in order: null for one not there */
type Script = (numKeys: number, ops: Buffer) => Promise<Array<Buffer | null>>

/** a QoS 1 message's packet id held back (`sentId`) */
interface Held { readonly queue: string, readonly field: string, readonly id: string, readonly at: number, live: boolean }

/** `packet:` (an ack's packet key, less this, is the field of its id) */
const PACKET_PREFIX_LENGTH = 7

/** a hash field to set */
export interface HashField { readonly key: string, readonly field: string, readonly value: Buffer }

/** a queue that holds a message under the client's own key, with the packet id it was given as it was queued */
export interface OwnEntry { readonly queue: string, readonly own: string, readonly value: Buffer }

export interface RedisBatch {
  /** `cap`: the QoS the queues' copy was capped at, below the published one (the record's form is the
   * published one); `fields`: set in the same script call, so that they are in Redis with the queue entries or
   * not at all; `owned`: queues that hold it under the client's own key, given its packet id as it was queued */
  enqueue (packet: string, queues: readonly string[], value: Buffer, cap: number | undefined, fields?: readonly HashField[],
    owned?: readonly OwnEntry[]): Promise<void>
  hset (fields: readonly HashField[]): Promise<void>
  hdel (key: string, field: string): Promise<void>
  del (key: string): Promise<void>
  /** a hash field (an incoming packet), read in the call of this turn: after every write made before it, in the
   * round trip those of this turn take (each a command of its own before: ioredis's cost per command) */
  hget (key: string, field: string): Promise<Buffer | null>
  /** a QoS 2 PUBLISH as sent; `sent`: the client's own key for the message (outgoing:<client>:<brokerId>:<counter>) */
  sent (queue: string, packet: string, sent: string, value: Buffer): Promise<void>
  /** a QoS 1 message's packet id; `field`: <brokerId>:<counter>; written HOLD_MS later unless acknowledged first */
  sentId (queue: string, field: string, messageId: number): void
  pubrel (queue: string, packet: string, sent: string, value: Buffer): Promise<void>
  /** the QoS 1 ids held for `queue` go to the call gathering now: its promise, or undefined when none was held */
  writeHeld (queue: string): Promise<void> | undefined
  /** `packet`: the message's key (its count's is that and `:offlineCount`) */
  ack (queue: string, entry: string, packet: string): Promise<void>
  drop (queue: string): Promise<void>
  /** resolves once every write made so far has run (or failed) */
  settled (): Promise<void>
  /** the same, but the QoS 1 ids held back stay held */
  written (): Promise<void>
  /** script calls made and operations in them, since start; QoS 1 ids acknowledged before they were written */
  readonly stats: { batches: number, ops: number, idsCancelled: number }
}

interface Pending {
  items: Array<string | Buffer>
  ops: number
  done: Promise<void>
  resolve: () => void
  reject: (err: Error) => void
  /** `G` operations in this call, and once it has run what they read */
  reads: number
  results: Array<Buffer | null> | undefined
}

function pending (): Pending {
  let resolve!: () => void
  let reject!: (err: Error) => void
  const done = new Promise<void>((res, rej) => { resolve = res; reject = rej })
  // a write nobody awaits fails quietly (an acknowledgement lost: the message is sent again)
  done.catch(() => {})
  return { items: [], ops: 0, done, resolve, reject, reads: 0, results: undefined }
}

export function createRedisBatch (conn: Redis): RedisBatch {
  conn.defineCommand('wardenQueueBatch', { lua: SCRIPT })
  // the Buffer form: the fields read are msgpack, not text
  const run = (conn as unknown as { wardenQueueBatchBuffer: Script }).wardenQueueBatchBuffer.bind(conn)
  let next: Pending | null = null
  let last: Promise<void> = Promise.resolve()
  const stats = { batches: 0, ops: 0, idsCancelled: 0 }
  /** QoS 1 ids not written yet, by queue and field; and all of them oldest first (some no longer held: `live`) */
  const held = new Map<string, Map<string, Held>>()
  let order: Held[] = []
  let head = 0
  let holdTimer: NodeJS.Timeout | null = null

  const flush = (): void => {
    const b = next
    next = null
    if (b === null) return
    stats.batches++
    stats.ops += b.ops
    run(0, packItems(b.items)).then(
      (read) => { b.results = read; b.resolve() },
      (err: unknown) => b.reject(err instanceof Error ? err : new Error(String(err))))
  }

  /** the call gathering now */
  const gathering = (): Pending => {
    if (next === null) {
      next = pending()
      last = next.done.catch(() => {})
      setImmediate(flush)
    }
    return next
  }
  /** `ops` operations in `items`, in one script call */
  const addOps = (ops: number, items: ReadonlyArray<string | Buffer>): Promise<void> => {
    const b = gathering()
    for (const x of items) b.items.push(x)
    b.ops += ops
    if (b.ops >= MAX_OPS) flush()
    return b.done
  }
  const add = (...items: Array<string | Buffer>): Promise<void> => addOps(1, items)
  const hsets = (fields: readonly HashField[]): Array<string | Buffer> => fields.flatMap((f) => ['H', f.key, f.field, f.value])

  const unhold = (h: Held): void => {
    h.live = false
    const m = held.get(h.queue)
    m?.delete(h.field)
    if (m?.size === 0) held.delete(h.queue)
  }
  const write = (h: Held): void => { void add('I', h.queue, h.field, h.id) }
  /** the held ids at least `age` ms old go to the batch gathering now */
  const release = (age: number): void => {
    const before = Date.now() - age
    for (; head < order.length; head++) {
      const h = order[head] as Held
      if (h.at > before) break
      if (!h.live) continue
      unhold(h)
      write(h)
    }
    if (head === order.length) { order = []; head = 0 } else if (head > 1024 && head * 2 > order.length) { order = order.slice(head); head = 0 }
    if (holdTimer !== null && order.length === 0) { clearTimeout(holdTimer); holdTimer = null }
  }
  /** the ids held for `queue` go to the batch gathering now (`write`), or are dropped */
  const releaseQueue = (queue: string, writeThem: boolean): void => {
    const m = held.get(queue)
    if (m === undefined) return
    held.delete(queue)
    for (const h of m.values()) {
      h.live = false
      if (writeThem) write(h)
    }
  }
  const hold = (): void => {
    if (holdTimer !== null) return
    holdTimer = setTimeout(() => {
      holdTimer = null
      release(HOLD_MS)
      if (order.length > 0) hold()
    }, HOLD_MS)
    holdTimer.unref()
  }

  return {
    enqueue (packet, queues, value, cap, fields = [], owned = []) {
      // the ids its queues' client was sent before it under ids of their own go in the same call (as with `sent`)
      for (const o of owned) releaseQueue(o.queue, true)
      const items: Array<string | Buffer> = ['E', String(queues.length), String(owned.length), packet, value, cap === undefined ? '' : String(cap), ...queues]
      for (const o of owned) items.push(o.queue, o.own, o.value)
      return addOps(1 + fields.length, fields.length === 0 ? items : [...items, ...hsets(fields)])
    },
    hset: (fields) => addOps(fields.length, hsets(fields)),
    hdel: (key, field) => add('X', key, field),
    del: (key) => add('K', key),
    hget (key, field) {
      const b = gathering()
      const at = b.reads++
      return add('G', key, field).then(() => b.results?.[at] ?? null)
    },
    // a QoS 2 PUBLISH or PUBREL as sent is awaited before it is sent: the ids of its queue held until then go in
    // the same call, so that what a client was sent before it is in Redis once the client has it, as before
    sent (queue, packet, sent, value) {
      releaseQueue(queue, true)
      return add('S', queue, packet, sent, value)
    },
    sentId (queue, field, messageId) {
      let m = held.get(queue)
      if (m === undefined) { m = new Map(); held.set(queue, m) }
      const before = m.get(field)
      if (before !== undefined) before.live = false // sent again: the newer id
      const h: Held = { queue, field, id: String(messageId), at: Date.now(), live: true }
      m.set(field, h)
      order.push(h)
      hold()
    },
    pubrel (queue, packet, sent, value) {
      releaseQueue(queue, true)
      return add('P', queue, packet, sent, value)
    },
    writeHeld (queue) {
      const m = held.get(queue)
      if (m === undefined) return undefined
      held.delete(queue)
      // the last one's call runs after the others' (one connection answers in order)
      let done: Promise<void> | undefined
      for (const h of m.values()) {
        h.live = false
        done = add('I', h.queue, h.field, h.id)
      }
      return done
    },
    ack (queue, entry, packet) {
      const h = held.get(queue)?.get(packet.slice(PACKET_PREFIX_LENGTH))
      if (h !== undefined) { unhold(h); stats.idsCancelled++ }
      return add('A', queue, entry === packet ? '' : entry, packet)
    },
    drop (queue) {
      // its ids go with it (the script deletes the hash): none written after
      releaseQueue(queue, false)
      return add('D', queue)
    },
    written () {
      return next !== null ? next.done.catch(() => {}) : last
    },
    settled () {
      release(0)
      // the batch gathering now is sent in this turn's check phase; every earlier one was sent before it, and
      // one connection answers in order
      return next !== null ? next.done.catch(() => {}) : last
    },
    stats
  }
}
