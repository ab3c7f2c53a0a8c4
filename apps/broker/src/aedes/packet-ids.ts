// The packet ids a connection may give: never one its session still holds (MQTT-2.2.1-3, MQTT-4.4.0-1).
//
// aedes numbers a QoS 1/2 delivery from the client's `_nextId` (lib/qos-packet.js: read it, then add one,
// wrapping at 65535), which starts anywhere and skips nothing. A session resumed with a message in flight under
// id A (its PUBLISH, or its PUBREL) then gave a new message A too once the counter got there: the subscriber
// acknowledged the wrong one, or at QoS 2 dropped the new one as a duplicate of the one it still held. So did a
// clean session whose counter came round to a message still unacknowledged.
//
// `_nextId` becomes an accessor on aedes's Client prototype: reading it gives the next id the connection's
// session does not hold; aedes's write after that read (the read id plus one, or 1 after 65535) takes the id,
// which is held until the store clears it (an acknowledgement, or a message dropped). Warden's own ids
// (nextPacketId) come from the same counter. What the session held before this connection (stored PUBLISHes and
// PUBRELs with their ids) is read from the store as aedes fetches the session, before any subscription of the
// connection exists (holdStoredIds): no store read per message, and a Set per connection.
//
// A session holding many ids (a subscriber that acknowledges nothing, MQTT 3.1.1 has no window on it) keeps them as
// bits instead (8 KiB), and the free one is found a word of 32 at a time: looked for one by one, each delivery to a
// subscriber holding 65534 of them, freeing one an acknowledgement at a time, looked at all of them first (~1 ms
// each), and their Set took 1.25 MB per such connection. Back to a Set once few are held again.
//
// On the prototype, not on each client: redefining a client's own `_nextId` as an accessor turns the client into
// a dictionary (slow) object; aedes's constructor sets `_nextId` through the prototype's setter instead.
import type { Client } from 'aedes'
import { WardenError } from '@warden/common'
import { aedesClientClass } from './client-class.js'

const LAST = 65535
const after = (id: number): number => id >= LAST ? 1 : id + 1

// Registered symbols and a process-wide table: aedes's Client class is one per process, and this module may be
// loaded more than once in it (a test runner gives each test file its own copy of Warden's modules, not of aedes's):
// an accessor installed by one copy must read and write what every other copy does.
const NEXT = Symbol.for('warden.nextPacketId')
const HELD = Symbol.for('warden.heldPacketIds')
const BITS = Symbol.for('warden.heldPacketIdBits')
const COUNT = Symbol.for('warden.heldPacketIdCount')
/** marks the accessor as Warden's (installed by any copy of this module) */
const ACCESSOR = Symbol.for('warden.packetIdAccessor')

interface Ids {
  /** the counter: the id aedes reads next (skipping those held) */
  [NEXT]: number
  /** ids the session holds (a Set made with the first one; null: none, or held as bits); undefined: a client of a
   * broker that keeps none */
  [HELD]: Set<number> | null | undefined
  /** the ids held, as bits (bit i of word w: id 32w + i; id 0, never given, is set) once DENSE are: the Set is dropped */
  [BITS]?: Int32Array | undefined
  /** how many ids the bits hold */
  [COUNT]: number
  /** aedes's client: its broker */
  readonly broker?: object
}

/** brokers whose clients hold their ids (keepIdsOf): another aedes of the process (a test's bare one) is left as it is */
const KEEPING = Symbol.for('warden.packetIdBrokers')
const keeping: WeakSet<object> = ((globalThis as Record<symbol, unknown>)[KEEPING] ??= new WeakSet<object>()) as WeakSet<object>

const idsOf = (client: Client | object): Ids => client as unknown as Ids

/** held ids from which they are kept as bits (one by one, at most this many are looked at for a free one) */
const DENSE = 256
/** held ids under which bits go back to a Set (apart from DENSE: no switching to and fro at every id) */
const SPARSE = 64
const WORDS = 2048

/** `id`, or the first after it that `held` does not hold (all held: `id`, as aedes would give it) */
function freeFrom (held: Set<number>, id: number): number {
  let n = id
  for (let i = 0; i < LAST; i++) {
    if (!held.has(n)) return n
    n = after(n)
  }
  return id
}

/** freeFrom, 32 ids at a time */
function freeBit (bits: Int32Array, id: number): number {
  let w = id >>> 5
  // id's own word without the ids before id (those are looked at last, coming round)
  let word = (bits[w] as number) | ((1 << (id & 31)) - 1)
  for (let i = 0; i <= WORDS; i++) {
    // the lowest clear bit
    if (word !== -1) return (w << 5) + 31 - Math.clz32(~word & (word + 1))
    w = (w + 1) & (WORDS - 1)
    word = bits[w] as number
  }
  return id
}

const isSet = (bits: Int32Array, id: number): boolean => ((bits[id >>> 5] as number) & (1 << (id & 31))) !== 0

function hold (c: Ids, id: number): void {
  const bits = c[BITS]
  if (bits !== undefined) {
    if (!isSet(bits, id)) { bits[id >>> 5] = (bits[id >>> 5] as number) | (1 << (id & 31)); c[COUNT]++ }
    return
  }
  let held = c[HELD]
  if (held === undefined) return
  if (held === null) { held = new Set(); c[HELD] = held }
  held.add(id)
  if (held.size < DENSE) return
  const made = new Int32Array(WORDS)
  made[0] = 1
  for (const h of held) made[h >>> 5] = (made[h >>> 5] as number) | (1 << (h & 31))
  c[BITS] = made
  c[COUNT] = held.size
  c[HELD] = null
}

function release (c: Ids, id: number): void {
  const bits = c[BITS]
  if (bits === undefined) { c[HELD]?.delete(id); return }
  if (!isSet(bits, id)) return
  bits[id >>> 5] = (bits[id >>> 5] as number) & ~(1 << (id & 31))
  if (--c[COUNT] >= SPARSE) return
  const held = new Set<number>()
  for (let w = 0; w < WORDS; w++) {
    const word = (bits[w] as number) & (w === 0 ? ~1 : -1)
    if (word === 0) continue
    for (let b = 0; b < 32; b++) if ((word & (1 << b)) !== 0) held.add((w << 5) + b)
  }
  c[HELD] = held
  c[BITS] = undefined
}

/** the free id the counter is at, moved there */
function current (c: Ids): number {
  let id = c[NEXT]
  const bits = c[BITS]
  if (bits !== undefined) {
    // every id held (a client that acknowledges nothing): given as aedes would, without a search of them all
    if (c[COUNT] < LAST && isSet(bits, id)) c[NEXT] = id = freeBit(bits, id)
    return id
  }
  const held = c[HELD]
  if (held !== undefined && held !== null && held.size > 0 && held.has(id)) c[NEXT] = id = freeFrom(held, id)
  return id
}

const accessor: PropertyDescriptor = {
  configurable: true,
  get (this: Ids): number { return current(this) },
  set (this: Ids, value: number) {
    // aedes's QoSPacket reads the id, then writes the one after it: the id read is taken. Any other write
    // (aedes's constructor, a test) only moves the counter.
    const at = this[NEXT]
    // (BITS and COUNT are set only once many ids are held: two fields fewer on every idle connection)
    if (at === undefined) this[HELD] = this.broker !== undefined && keeping.has(this.broker) ? null : undefined
    else if (value === after(at)) hold(this, at)
    this[NEXT] = value
  }
}

let installed = false
/** the one installation of the process: brokers made at the same time (a cluster test, two in one process) share it */
let installing: Promise<void> | undefined

/**
 * Makes every aedes client created from now on give only ids its session does not hold. Once per process, before
 * the first client is made; refuses to start if aedes's Client keeps `_nextId` elsewhere.
 */
export async function installPacketIds (): Promise<void> {
  installing ??= install()
  await installing
}

async function install (): Promise<void> {
  const AedesClient = await aedesClientClass()
  const proto = AedesClient?.prototype
  // installed by another copy of this module in the process
  const own = proto === undefined ? undefined : Object.getOwnPropertyDescriptor(proto, '_nextId')
  if ((own?.get as { [ACCESSOR]?: boolean } | undefined)?.[ACCESSOR] === true) {
    installed = true
    return
  }
  if (proto === undefined || Object.prototype.hasOwnProperty.call(proto, '_nextId') || !/\b_nextId\b/.test(String(AedesClient))) {
    throw new WardenError('WARDEN_ERR_AEDES_CONTRACT', 'aedes internal lib/client.js Client._nextId is missing (Warden relies on it: ' +
      'packet ids a session holds are not given again)')
  }
  Object.defineProperty((accessor.get as object), ACCESSOR, { value: true })
  Object.defineProperty(proto, '_nextId', accessor)
  installed = true
}

/** the clients `broker` makes from now on hold the ids they give (installPacketIds must have run) */
export function keepIdsOf (broker: object): void {
  if (!installed) throw new WardenError('WARDEN_ERR_AEDES_CONTRACT', 'packet ids: installPacketIds() must run before aedes makes a client')
  keeping.add(broker)
}

/** takes the next id the client's session does not hold, as aedes would (Warden's own deliveries) */
export function takePacketId (client: Client): number {
  const c = idsOf(client)
  const id = current(c)
  hold(c, id)
  c[NEXT] = after(id)
  return id
}

/** the session holds `id` (a message sent or about to be sent under it, or its PUBREL) */
export function holdPacketId (client: Client | object, id: number): void {
  const c = idsOf(client)
  if (id > 0) hold(c, id)
}

/** ids the session held before this connection (read from the store as the session is resumed) */
export function holdStoredIds (client: Client, ids: Iterable<number>): void {
  for (const id of ids) holdPacketId(client, id)
}

/** `id` is free again: acknowledged (PUBACK, PUBCOMP), or its message dropped or given another id */
export function releasePacketId (client: Client | object, id: number | undefined): void {
  if (id !== undefined && id > 0) release(idsOf(client), id)
}

/** the ids the connection's session holds now (tests, views) */
export function heldPacketIds (client: Client): ReadonlySet<number> {
  const c = idsOf(client)
  const bits = c[BITS]
  if (bits === undefined) return c[HELD] ?? new Set()
  const held = new Set<number>()
  for (let id = 1; id <= LAST; id++) if (isSet(bits, id)) held.add(id)
  return held
}
