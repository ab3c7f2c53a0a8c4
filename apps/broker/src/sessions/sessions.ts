// The sessions admins see and end (API, CLI, control topic): one per bound client id.
import type { Aedes } from 'aedes'
import type { AedesStore } from '../aedes/store.js'
import { clientsById, closeWithoutWill } from '../aedes/client-internals.js'
import { purgeSession } from './session-expiry.js'
import { markTakenOver } from './takeover.js'
import { closeTakenOver } from '../aedes/v5-answers.js'
import { V5 } from '../hooks/reason-codes.js'
import type { Binding } from '../policy/client-id-binding.js'
import type { BindingStore } from '../store/binding-store.js'
import type { ClientIdGuard } from './client-id-guard.js'
import type { ConnectOrder } from './connect-order.js'

export interface SessionView {
  readonly clientId: string
  /** the account it is bound to; null: anonymous clients */
  readonly account: string | null
  readonly connected: boolean
  readonly clean: boolean
  /** when the connection that bound it was accepted */
  readonly since: string
  /** stored subscriptions (persistent sessions) */
  readonly subscriptions: number
  /** QoS 1/2 messages stored for it (one session only: counting walks its queue) */
  readonly queued?: number
}

export interface SessionCensus {
  /** persistent sessions (clean=false / Session Expiry > 0) bound to a client id, connected or not */
  readonly persistent: number
  /** of those, the ones whose client is connected (on any worker) */
  readonly connected: number
  /** QoS 1/2 messages stored for persistent sessions, counted at most every QUEUE_RECOUNT_MS */
  readonly queued: number
  /** when `queued` was counted */
  readonly queuedAt: number
}

/** counting reads every stored queue: a scrape every few seconds must not do that each time */
export const QUEUE_RECOUNT_MS = 15_000

/** event-loop turns a takeover waits for a connection's unread input to be handled (a store write holds the next read) */
const UNREAD_TURNS = 50

export interface Sessions {
  /** what /metrics reports of sessions */
  census (): Promise<SessionCensus>
  list (limit: number): Promise<{ total: number, sessions: SessionView[] }>
  get (clientId: string): Promise<SessionView | undefined>
  /** ends its connection (without its will), removes the session and frees the id; undefined: none */
  remove (clientId: string): Promise<SessionView | undefined>
  /** ends the connection of this client id (without its will), on whichever process holds it; its session
   * stays (a persistent one keeps its queue, and the client may connect again). undefined: not connected */
  kick (clientId: string): Promise<{ clientId: string, account: string | null } | undefined>
  /** an account was deleted: its sessions go, its ids are free */
  forgetAccount (account: string): Promise<void>
  /** session expiry removed it: the id is free unless a client connected meanwhile */
  forgetExpired (clientId: string): Promise<void>
  /** another process asked to end this client id's connection here */
  kickLocal (clientId: string): Promise<void>
  /**
   * a CONNECT on another process takes this client id's session: its connection here is told (MQTT 5: DISCONNECT 0x8E) and
   * ends; `endsSession`: that CONNECT has Clean Start 1
   */
  takeOverLocal (clientId: string, endsSession?: boolean): Promise<void>
}

export function createSessions (
  broker: Aedes, persistence: AedesStore, store: BindingStore, guard: ClientIdGuard, order: Pick<ConnectOrder, 'settled'>
): Sessions {
  const reads = persistence
  /** QoS 1/2 messages stored for one session: counting walks its queue */
  const queueLength = async (id: string): Promise<number> => {
    let n = 0
    for await (const _ of reads.outgoingStream({ id })) n++
    return n
  }
  const view = async (clientId: string, b: Binding, countQueue: boolean): Promise<SessionView> => {
    const here = clientsById(broker)[clientId]
    const connected = here !== undefined || (b.connected && await guard.connectionAlive(b))
    const subscriptions = (await reads.subscriptionsByClient({ id: clientId })).length
    const queued = countQueue ? await queueLength(clientId) : undefined
    return {
      clientId, account: b.account, connected, clean: b.clean, since: new Date(b.since).toISOString(), subscriptions,
      ...(queued !== undefined ? { queued } : {})
    }
  }
  const kickLocal = async (clientId: string): Promise<void> => {
    const c = clientsById(broker)[clientId]
    if (c !== undefined) await closeWithoutWill(c)
  }

  let counted: { queued: number, at: number } | undefined
  let counting: Promise<{ queued: number, at: number }> | undefined
  const countQueues = async (ids: string[]): Promise<{ queued: number, at: number }> => {
    let queued = 0
    for (const id of ids) queued += await queueLength(id)
    return { queued, at: Date.now() }
  }

  return {
    kickLocal,
    async kick (clientId) {
      const b = await store.get(clientId)
      const here = clientsById(broker)[clientId]
      if (here !== undefined) {
        await kickLocal(clientId)
        return { clientId, account: b?.account ?? null }
      }
      if (b === undefined || !b.connected || b.brokerId === broker.id || !await guard.connectionAlive(b)) return undefined
      await store.kick(clientId)
      return { clientId, account: b.account }
    },
    async takeOverLocal (clientId, endsSession = false) {
      // a connection of the id still in its connect steps here is taken over once it has its CONNACK: no
      // DISCONNECT may come before one (MQTT-3.14.0-1), and let be, it would register after the new one
      await order.settled(clientId)
      // what the client sent before it went to the other process (its last PUBACKs, a DISCONNECT) may be
      // waiting, unread, on this one's socket (this process busy, or stopped, when it came): the poll phase
      // that brought this request read it too, and the turn after it has it handled, so that those
      // acknowledgements count rather than the messages going again
      let c = clientsById(broker)[clientId]
      for (let turns = 0; turns < UNREAD_TURNS && c !== undefined && (turns === 0 || c.conn.readableLength > 0); turns++) {
        await new Promise((resolve) => setImmediate(resolve))
        c = clientsById(broker)[clientId]
      }
      if (c === undefined || c.closed) return
      // its session is the new connection's: its close must neither wipe it nor start its expiry
      markTakenOver(c, endsSession)
      // (one whose stored queue is still being sent gets its DISCONNECT too)
      await closeTakenOver(c, V5.SESSION_TAKEN_OVER)
    },
    async census () {
      const persistent = (await store.list()).filter(([, b]) => !b.clean)
      const connected = persistent.filter(([, b]) => b.connected).length
      if (counted === undefined || Date.now() - counted.at >= QUEUE_RECOUNT_MS) {
        counting ??= countQueues(persistent.map(([id]) => id)).finally(() => { counting = undefined })
        counted = await counting
      }
      return { persistent: persistent.length, connected, queued: counted.queued, queuedAt: counted.at }
    },
    async list (limit) {
      const all = (await store.list()).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
      const sessions = await Promise.all(all.slice(0, limit).map(([id, b]) => view(id, b, false)))
      return { total: all.length, sessions }
    },
    async get (clientId) {
      const b = await store.get(clientId)
      return b === undefined ? undefined : await view(clientId, b, true)
    },
    async remove (clientId) {
      const b = await store.get(clientId)
      if (b === undefined) return undefined
      const before = await view(clientId, b, false)
      await kickLocal(clientId)
      if (b.brokerId !== broker.id) await store.kick(clientId)
      await purgeSession(persistence, clientId)
      // the ending connection releases its own binding only while it is still its own: remove whatever is there
      for (let held = await store.get(clientId); held !== undefined && !await store.swap(clientId, held, undefined);) held = await store.get(clientId)
      return before
    },
    async forgetExpired (clientId) {
      const b = await store.get(clientId)
      if (b !== undefined && !b.connected) await store.swap(clientId, b, undefined)
    },
    async forgetAccount (account) {
      for (const clientId of await store.removeAccount(account)) await purgeSession(persistence, clientId)
    }
  }
}
