// Binds each client id to the account whose session it is. A CONNECT of another account is refused with
// CONNACK 2 from inside authenticate: aedes takes a session over (kicks the connected client, replaces its
// will, wipes a clean session's state) only in the CONNECT steps after authenticate, so nothing of the
// owner's session, queue, connection or will has been touched when the refusal is sent.
import { randomUUID } from 'node:crypto'
import type { Duplex } from 'node:stream'
import type { AuthenticateError, Client } from 'aedes'
import type { Logger } from '@warden/common'
import type { Audit } from '../audit/audit.js'
import { keepSessionOfRefused, remoteAddressOf } from '../aedes/client-internals.js'
import { clientOfConn, isCleanSession, resumesSession } from '../aedes/accessors.js'
import { onConnectionClose, watchClose } from '../aedes/close-hooks.js'
import { clientInternals } from '../aedes/internals.js'
import { clientSlot } from '../aedes/client-slot.js'
import type { HookStage } from '../hooks/pipeline.js'
import { mayClaim, type Binding } from '../policy/client-id-binding.js'
import type { BindingStore } from '../store/binding-store.js'

export interface ClientIdGuardDeps {
  store: BindingStore
  brokerId: string
  /** the authenticated client's account: a username, null when anonymous; undefined: not authenticated */
  accountOf: (client: Client) => string | null | undefined
  accountExists: (account: string) => boolean
  audit: Audit
  logger: Logger
}

export interface ClientIdGuard {
  /** checks the binding once every later stage has admitted the client: the first stage of the pipeline */
  readonly stage: HookStage
  /** whether the connection that made a binding is still open (this process, or a running other one) */
  connectionAlive (b: Binding): Promise<boolean>
  /** epoch ms of the CONNECT that bound a connected client's id (its binding's `since`); undefined until bound */
  connectedSince (client: Client): number | undefined
}

type Claim = { readonly ok: true, readonly prev: Binding | undefined, readonly mine: Binding } | { readonly ok: false, readonly held: Binding }

/**
 * A binding's connection: unique across processes and restarts, as it outlives the process in a shared store —
 * this process's random prefix and a count. (A randomUUID each was a chain of 14 string pieces kept for as long
 * as the connection, 448 bytes, and a call into the random source per CONNECT.)
 */
const PROCESS_PREFIX = [randomUUID(), '.'].join('') // join: one flat string, each id one piece on top of it
let connections = 0
const connectionId = (): string => PROCESS_PREFIX + (++connections).toString(36)

function authError (returnCode: 2 | 3, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError
}

/** each open connection's binding; one close hook for all of them (aedes/close-hooks.ts), which finds its client on the stream */
const held = clientSlot<Binding>('binding')

export function createClientIdGuard ({ store, brokerId, accountOf, accountExists, audit, logger }: ClientIdGuardDeps): ClientIdGuard {
  /** connections of this process holding a binding, by their `conn` */
  const live = new Set<string>()
  const connectionAlive = async (b: Binding): Promise<boolean> => b.brokerId === brokerId ? live.has(b.conn) : await store.brokerAlive(b.brokerId)
  const logError = (err: unknown, clientId: string): void => {
    logger.error({ err, clientId, code: 'WARDEN_ERR_SESSION_STORE' }, 'client id bindings: store failed')
  }

  async function claim (clientId: string, account: string | null, clean: boolean): Promise<Claim> {
    // a lost compare-and-set means another CONNECT changed the binding meanwhile: decide again on what it left
    for (let attempt = 0; attempt < 5; attempt++) {
      const held = await store.get(clientId)
      const alive = held !== undefined && held.account !== account && held.clean ? await connectionAlive(held) : true
      if (held !== undefined && !mayClaim(held, account, { connectionAlive: () => alive, accountExists })) return { ok: false, held }
      const mine: Binding = { account, clean, connected: true, brokerId, conn: connectionId(), since: Date.now() }
      if (await store.swap(clientId, held, mine)) return { ok: true, prev: held, mine }
    }
    throw new Error(`the binding of client id ${JSON.stringify(clientId)} kept changing`)
  }

  /** the connection ended: a clean session ends with it, a persistent one stays bound, offline */
  function release (clientId: string, mine: Binding): void {
    live.delete(mine.conn)
    store.swap(clientId, mine, mine.clean ? undefined : { ...mine, connected: false }).catch((err: unknown) => logError(err, clientId))
  }

  function released (conn: Duplex): void {
    const client = clientOfConn(conn) as Client | undefined
    const mine = client === undefined ? undefined : held.get(client)
    if (client !== undefined && mine !== undefined) release(client.id, mine)
  }

  return {
    connectionAlive,
    connectedSince: (client) => held.get(client)?.since,
    stage: {
      name: 'client-id-binding',
      authenticate (client, username, password, cb, next) {
        next(client, username, password, (err, ok) => {
          if (err !== null) { keepSessionOfRefused(client); cb(err, ok); return }
          const account = accountOf(client)
          if (account === undefined) { cb(err, ok); return }
          const clientId = client.id
          // a v5 session resumed with Clean Start 0 holds the previous one's state: bound like a persistent one
          const clean = isCleanSession(client)
          claim(clientId, account, clean).then((c) => {
            if (!c.ok) {
              const owner = c.held.account === null ? 'anonymous clients' : `account ${c.held.account}`
              audit.record({
                kind: 'connect', reason: 'client-id-owned', username: account ?? undefined, clientId, address: remoteAddressOf(client),
                detail: `client id belongs to ${owner}`
              })
              keepSessionOfRefused(client)
              cb(authError(2, 'identifier rejected: client id belongs to another account'), null)
              return
            }
            if (client.closed || client.conn.destroyed === true) {
              // gone before its CONNACK: refused, so aedes takes nothing over, and the id goes back as it was
              store.swap(clientId, c.mine, c.prev).catch((e: unknown) => logError(e, clientId))
              keepSessionOfRefused(client)
              cb(authError(3, 'connection closed during CONNECT'), null)
              return
            }
            live.add(c.mine.conn)
            held.set(client, c.mine)
            const broker = clientInternals(client).broker
            onConnectionClose(broker, released)
            watchClose(broker, client.conn)
            const prev = c.prev
            if (prev === undefined || !prev.connected || prev.brokerId === brokerId) { cb(null, ok); return }
            // the same account's connection on another process: it is told and gone before this one
            // registers (aedes's own cluster takeover would close it with no DISCONNECT 0x8E)
            store.brokerAlive(prev.brokerId)
              .then(async (alive) => { if (alive) await store.takeOver(clientId, prev.brokerId, !resumesSession(client)) })
              .catch((e: unknown) => logError(e, clientId))
              .finally(() => cb(null, ok))
          }, (e: unknown) => {
            logError(e, clientId)
            keepSessionOfRefused(client)
            cb(authError(3, 'client id bindings unavailable'), null)
          })
        })
      }
    }
  }
}
