// Warden's own state of a connection, kept on its aedes client as a symbol-keyed property (as the packet guard
// is on its parser): a WeakMap keyed by client costs 26–33 bytes of hash table a connection at 10k, a property 8.
// A slot is made once per module, not per broker, so every client of the process takes the same few shapes.
import type { Client } from 'aedes'

/** WeakMap's get/set/delete on one client property */
export interface ClientSlot<T> {
  get (client: Client): T | undefined
  set (client: Client, value: T): void
  delete (client: Client): void
}

export function clientSlot<T> (name: string): ClientSlot<T> {
  const key = Symbol(`warden.${name}`)
  const slots = (client: Client): Record<symbol, T | undefined> => client as unknown as Record<symbol, T | undefined>
  return {
    get: (client) => slots(client)[key],
    set: (client, value) => { slots(client)[key] = value },
    // never the `delete` operator: an object that loses a property turns into a dictionary, several times larger
    delete: (client) => { if (slots(client)[key] !== undefined) slots(client)[key] = undefined }
  }
}
