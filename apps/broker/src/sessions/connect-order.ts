// The CONNECTs of one client id on this process take its session in the order they were admitted. aedes's
// connect steps after authentication (subscriptions fetched and restored, will stored) wait on the store, and
// the last to reach registerClient takes over the other: a newer CONNECT whose steps ended first was CONNACKed,
// then taken over (DISCONNECT 0x8E) by the older one still on its way, which kept the session against the
// binding the newer one had made (client-id-guard.ts). Nor could that older one, not yet CONNACKed, be told
// 0x8E: no DISCONNECT before CONNACK (MQTT-3.14.0-1). So an admitted CONNECT starts its steps only once the one
// admitted before it, for its id here, has its CONNACK or has ended: every takeover finds a connection that has
// its CONNACK, and tells it 0x8E (aedes/takeover-disconnect.ts if its queue is still being sent) — as in
// Mosquitto, where the takeover and the new CONNACK are one step, and EMQX, which locks the client id while it
// opens a session.
import type { Duplex } from 'node:stream'
import type { Aedes, Client } from 'aedes'
import { clientOfConn } from '../aedes/accessors.js'
import { onConnectionClose, watchClose } from '../aedes/close-hooks.js'
import { clientInternals } from '../aedes/internals.js'
import { closeTakenOver } from '../aedes/v5-answers.js'
import { V5 } from '../hooks/reason-codes.js'
import type { HookStage } from '../hooks/pipeline.js'

/** an admitted CONNECT, from its admission until its CONNACK (or its end), and until the one before it is done */
interface Turn {
  readonly client: Client
  /** the one before it is done: its connect steps may run */
  started: boolean
  /** it has its CONNACK, or its connection ended */
  answered: boolean
  /** the next admitted CONNECT of the id, waiting for this one */
  next: (() => void) | undefined
  /** others waiting for it to be over (a takeover asked by another process) */
  watchers?: Array<() => void>
}

export interface ConnectOrder {
  /** outside the client-id binding: it sees the CONNECTs the binding admitted */
  readonly stage: HookStage
  /** once aedes exists: a CONNACK sent ends its client's turn */
  watch (broker: Aedes): void
  /** resolves once the last CONNECT of the id admitted here so far has its CONNACK or has ended (and every one before it) */
  settled (clientId: string): Promise<void>
}

export function createConnectOrder (): ConnectOrder {
  /** by client id: the last admitted CONNECT whose turn is not over */
  const last = new Map<string, Turn>()
  const turns = new WeakMap<Client, Turn>()

  function done (t: Turn): void {
    turns.delete(t.client)
    if (last.get(t.client.id) === t) last.delete(t.client.id)
    const next = t.next
    t.next = undefined
    next?.()
    for (const w of t.watchers ?? []) w()
  }
  function answered (client: Client | undefined): void {
    const t = client === undefined ? undefined : turns.get(client)
    if (t === undefined || t.answered) return
    t.answered = true
    if (t.started) done(t)
  }
  const closed = (conn: Duplex): void => { answered(clientOfConn(conn) as Client | undefined) }

  return {
    settled (clientId) {
      const t = last.get(clientId)
      return t === undefined ? Promise.resolve() : new Promise((resolve) => { (t.watchers ??= []).push(resolve) })
    },
    watch (broker) {
      broker.on('connackSent', (_packet: unknown, client: Client) => { answered(client) })
      onConnectionClose(broker, closed)
    },
    stage: {
      name: 'connect-order',
      authenticate (client, username, password, cb, next) {
        next(client, username, password, (err, ok) => {
          if (err !== null || ok !== true) { cb(err, ok); return }
          const before = last.get(client.id)
          const conn = client.conn as Duplex
          const t: Turn = { client, started: before === undefined, answered: client.closed || conn.closed, next: undefined }
          last.set(client.id, t)
          turns.set(client, t)
          watchClose(clientInternals(client).broker, conn)
          if (before === undefined) { if (t.answered) done(t); cb(err, ok); return }
          before.next = () => {
            t.started = true
            // gone while it waited, and no newer CONNECT of the id to take the older one over: that one's session was
            // claimed for this one (its binding moved), so it does not go on as if nothing had come
            // (after aedes has marked its CONNACK sent, which it does just after the event that ended its turn)
            if (client.closed && last.get(client.id) === t) queueMicrotask(() => { void closeTakenOver(before.client, V5.SESSION_TAKEN_OVER) })
            // a client gone meanwhile is let through too: aedes drops a closed client's authentication
            cb(err, ok)
            if (t.answered) done(t)
          }
        })
      }
    }
  }
}
