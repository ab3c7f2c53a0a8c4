// group-store (groups/shared-subscriptions.ts `patchStore`) on a fake store: a cleaned session and an
// unsubscribed `$share/` filter leave their groups, and a member's replayed queue neither resends a copy that
// went to another member nor forgets one it still holds. The groups need a broker: a real aedes one (no
// listener), members connected over in-memory streams.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Aedes, type Client } from 'aedes'
import aedesPersistence from 'aedes-persistence'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createLogger } from '../../packages/common/src/index.js'
import { createAudit } from '../../apps/broker/src/audit/audit.js'
import { storeOf, type Session, type StoredPacket } from '../../apps/broker/src/aedes/store.js'
import type { ClientPolicy } from '../../apps/broker/src/hooks/client-policy.js'
import { composeHooks } from '../../apps/broker/src/hooks/pipeline.js'
import { createSharedSubscriptions, type SharedSubscriptions } from '../../apps/broker/src/groups/shared-subscriptions.js'
import { copyBrokerId } from '../../apps/broker/src/policy/share-filter.js'
import { connectInMemory } from '../helpers/bare-aedes.js'
import { held, settle } from '../helpers/fake-store.js'

const logger = createLogger({ name: 'test', level: 'silent' })

function fakeStore (): { store: ReturnType<typeof storeOf>, clean: ReturnType<typeof held>, remove: ReturnType<typeof held>, updates: StoredPacket[] } {
  const clean = held()
  const remove = held()
  const updates: StoredPacket[] = []
  const store = storeOf({
    cleanSubscriptions (client: Session, _cb?: unknown) { return clean.call(client) },
    removeSubscriptions (client: Session, topics: string[], _cb?: unknown) { return remove.call(client, topics) },
    async outgoingUpdate (_client: Session, packet: StoredPacket, _cb?: unknown) { updates.push(packet) }
  })
  return { store, clean, remove, updates }
}

/** a client's rules as far as consumer groups read them: every client may read everything */
const policyOf = (client: Client): ClientPolicy =>
  ({ identity: { username: client.id }, reader: { canSubscribe: () => true }, canRead: () => true }) as unknown as ClientPolicy

let dir: string
let broker: Aedes
/** the broker's own store, which the groups' queue uses */
let persistence: ReturnType<typeof storeOf>
let shared: SharedSubscriptions
let membersFile: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warden-group-store-'))
  membersFile = join(dir, 'shared-groups.json')
  const p = aedesPersistence()
  persistence = storeOf(p)
  broker = await Aedes.createBroker({ persistence: p as never })
  const audit = createAudit({ logger, brokerId: broker.id, emit: () => {} })
  shared = createSharedSubscriptions({ maxQueued: 10, handoverTimeoutMs: 5000 }, { audit, logger, policyOf })
})
afterEach(async () => {
  await shared.close()
  await new Promise<void>((resolve) => broker.close(() => resolve()))
  await rm(dir, { recursive: true, force: true })
})

const members = async (): Promise<Record<string, string[]>> =>
  Object.fromEntries((await shared.stats()).map((g) => [`${g.group}/${g.filter}`, g.members.map((m) => m.clientId)]))

/** resolves once `check` holds, polling; rejects after 3 s */
async function eventually (check: () => Promise<boolean>): Promise<void> {
  for (const end = Date.now() + 3000; !(await check());) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

async function joinGroup (client: Client, topic: string): Promise<void> {
  const hooks = composeHooks([shared.stage])
  await new Promise<void>((resolve, reject) => hooks.authorizeSubscribe(client, { topic, qos: 1 }, (err, sub) => {
    if (err !== null || sub === null) reject(err ?? new Error('refused')); else resolve()
  }))
}

describe('group-store: sessions and unsubscribes', () => {
  beforeEach(async () => {
    await writeFile(membersFile, JSON.stringify({ 'g/sensors/#': { m1: { qos: 1 }, m2: { qos: 1 } }, 'h/sensors/#': { m2: { qos: 0 } } }))
  })

  it('takes a cleaned session out of every group once the store has cleaned it', async () => {
    const { store, clean } = fakeStore()
    shared.patchStore(store)
    await shared.attach({ broker, persistence, membersFile })
    expect(await members()).toEqual({ 'g/sensors/#': ['m1', 'm2'], 'h/sensors/#': ['m2'] })

    const cleaned = store.cleanSubscriptions({ id: 'm2' })
    await settle()
    expect(clean.calls.map((c) => c.args)).toEqual([[{ id: 'm2' }]])
    expect(await members()).toEqual({ 'g/sensors/#': ['m1', 'm2'], 'h/sensors/#': ['m2'] })
    clean.calls[0]!.resolve('cleaned')
    await expect(cleaned).resolves.toBe('cleaned')
    expect(await members()).toEqual({ 'g/sensors/#': ['m1'] })
    await shared.close()
    // a restart does not bring it back
    expect(JSON.parse(await readFile(membersFile, 'utf8'))).toEqual({ 'g/sensors/#': { m1: { qos: 1 } } })
  })

  it('takes an unsubscribed $share/ filter\'s member out of that group only', async () => {
    const { store, remove } = fakeStore()
    shared.patchStore(store)
    await shared.attach({ broker, persistence, membersFile })
    const removed = store.removeSubscriptions({ id: 'm2' }, ['$share/g/sensors/#', 'sensors/#'])
    await settle()
    expect(remove.calls.map((c) => c.args)).toEqual([[{ id: 'm2' }, ['$share/g/sensors/#', 'sensors/#']]])
    remove.calls[0]!.resolve()
    await removed
    expect(await members()).toEqual({ 'g/sensors/#': ['m1'], 'h/sensors/#': ['m2'] })
  })
})

describe('group-store: a member\'s stored queue replayed', () => {
  it('tracks a replayed copy as unacknowledged again, and skips one handed to another member since', async () => {
    const { store, updates } = fakeStore()
    shared.patchStore(store)
    await shared.attach({ broker, persistence, membersFile })
    const key = 'g/sensors/#'
    const copy: StoredPacket = {
      cmd: 'publish', topic: 'sensors/1', payload: Buffer.from('x'), qos: 1, retain: false, dup: false,
      brokerId: copyBrokerId(broker.id, key), brokerCounter: 5, messageId: 7
    }
    const inflight = async (): Promise<number | undefined> => (await shared.stats())[0]?.members.find((m) => m.clientId === 'm1')?.inflight

    // the member's session replays the copy (after a restart): it is the member's until acknowledged
    const first = await connectInMemory(broker, 'm1')
    await joinGroup(first.client, `$share/${key}`)
    await store.outgoingUpdate(first.client, { ...copy })
    expect(updates).toHaveLength(1)
    expect(await inflight()).toBe(1)

    // the connection ends unacknowledged: the copy goes to the group again (its queue, no member being online)
    first.conn.destroy()
    await eventually(async () => (await shared.stats())[0]?.waiting === 1)

    // the member's next session replays it from its own queue: not sent, it is the group's now
    const second = await connectInMemory(broker, 'm1')
    await joinGroup(second.client, `$share/${key}`)
    await expect(store.outgoingUpdate(second.client, { ...copy })).resolves.toBe(undefined)
    expect(updates).toHaveLength(1)
    expect(await inflight()).toBe(0)
    second.conn.destroy()
  })
})
