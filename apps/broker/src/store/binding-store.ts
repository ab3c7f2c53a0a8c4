// Where client-id bindings live: next to the sessions they protect. One process (memory, LevelDB): a map
// that is the authority, written through to LevelDB so that a binding survives a crash. Redis: see
// redis-bindings.ts.
import type { Level } from 'level'
import type { Binding } from '../policy/client-id-binding.js'

export interface BindingStore {
  get (clientId: string): Promise<Binding | undefined>
  list (): Promise<Array<[string, Binding]>>
  /**
   * Stores `next` (undefined: removes the binding) if the stored one is still `expected` — the same
   * connection's, or none. false: another CONNECT changed it first.
   */
  swap (clientId: string, expected: Binding | undefined, next: Binding | undefined): Promise<boolean>
  /** removes the bindings of one account; resolves with their client ids */
  removeAccount (account: string): Promise<string[]>
  /** whether another broker process is running (a single-process store has none) */
  brokerAlive (brokerId: string): Promise<boolean>
  /** asks every broker process to end its connection with this client id, without its will */
  kick (clientId: string): Promise<void>
  /** called when another process asks for a kick */
  onKick (listener: (clientId: string) => void): void
  /**
   * Asks broker process `brokerId` to end its connection with this client id as a takeover (MQTT 5: DISCONNECT
   * 0x8E): a CONNECT of the same account on this process is taking the session. Resolves once it has, or
   * after a short wait (a process that died meanwhile). One process: aedes takes over itself. `endsSession`: the
   * CONNECT has Clean Start 1, so the session of the connection taken over ends (its delayed will goes out at once).
   */
  takeOver (clientId: string, brokerId: string, endsSession?: boolean): Promise<void>
  /** called when another process takes over a client id connected here; resolves once its connection ended */
  onTakeOver (listener: (clientId: string, endsSession: boolean) => Promise<void>): void
  close (): Promise<void>
}

const PREFIX = 'warden:client-id:'
const RANGE = { gte: PREFIX, lt: 'warden:client-id;' }
const JSON_VALUES = { valueEncoding: 'json' } as const

export const sameConnection = (a: Binding | undefined, b: Binding | undefined): boolean => a?.conn === b?.conn

/** Memory, or LevelDB when `db` is given (same database as the sessions, keys under `warden:client-id:`). */
export async function createLocalBindings (db?: Level<string, unknown>): Promise<BindingStore> {
  const map = new Map<string, Binding>()
  if (db !== undefined) {
    for await (const [key, value] of db.iterator<string, Binding>({ ...RANGE, ...JSON_VALUES })) map.set(key.slice(PREFIX.length), value)
  }
  // LevelDB applies writes in the order they are issued only if one waits for the other
  let writing: Promise<unknown> = Promise.resolve()
  const write = (clientId: string, b: Binding | undefined): Promise<unknown> => {
    if (db === undefined) return Promise.resolve()
    const key = PREFIX + clientId
    writing = writing.catch(() => {}).then(() => b === undefined ? db.del(key) : db.put(key, b, JSON_VALUES))
    return writing
  }
  // no connection of an earlier run is open: their clean sessions have ended, their persistent ones are offline
  for (const [id, b] of [...map]) {
    if (b.clean) {
      map.delete(id)
      void write(id, undefined)
    } else if (b.connected) {
      const off = { ...b, connected: false }
      map.set(id, off)
      void write(id, off)
    }
  }
  await writing

  return {
    async get (clientId) { return map.get(clientId) },
    async list () { return [...map] },
    async swap (clientId, expected, next) {
      // check and set in one turn of the event loop: nothing else runs in between
      if (!sameConnection(map.get(clientId), expected)) return false
      if (next === undefined) map.delete(clientId); else map.set(clientId, next)
      await write(clientId, next)
      return true
    },
    async removeAccount (account) {
      const ids = [...map].filter(([, b]) => b.account === account).map(([id]) => id)
      for (const id of ids) { map.delete(id); void write(id, undefined) }
      await writing
      return ids
    },
    async brokerAlive () { return false },
    async kick () {},
    onKick () {},
    async takeOver () {},
    onTakeOver () {},
    async close () { await writing.catch(() => {}) }
  }
}
