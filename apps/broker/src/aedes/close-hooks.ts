// Warden's bookkeeping when a connection closes (open sockets, login slots, client-id bindings, sessions being
// resumed) runs from one 'close' listener per stream, shared by every connection of a broker. Node keeps a
// stream's only listener of an event as the function itself and two as a two-slot array; from the third on the
// array grows to 19 slots (~200 bytes a connection). aedes's own end-of-stream listener is one, so Warden's
// must be one too: each hook is added once per broker, runs for every stream the broker watches, and tells its
// own connections from the rest (a socket, and a WebSocket's stream over it, are both watched).
import type { Duplex } from 'node:stream'

export type CloseHook = (conn: Duplex) => void

interface Hooks { readonly list: CloseHook[], readonly listener: (this: Duplex) => void }

const byBroker = new WeakMap<object, Hooks>()

function hooksOf (broker: object): Hooks {
  let hooks = byBroker.get(broker)
  if (hooks === undefined) {
    const list: CloseHook[] = []
    hooks = { list, listener: function runCloseHooks (this: Duplex) { for (const hook of list) hook(this) } }
    byBroker.set(broker, hooks)
  }
  return hooks
}

/** `hook` runs when any stream this broker watches closes; adding the same hook again changes nothing */
export function onConnectionClose (broker: object, hook: CloseHook): void {
  const { list } = hooksOf(broker)
  if (!list.includes(hook)) list.push(hook)
}

/** `conn` runs the broker's hooks when it closes (once, however often it is watched) */
export function watchClose (broker: object, conn: Duplex): void {
  const { listener } = hooksOf(broker)
  if (!conn.listeners('close').includes(listener)) conn.on('close', listener)
}
