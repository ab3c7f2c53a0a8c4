// Connections ended because their client id connected on another broker process: their session is the new
// connection's now, so their close neither wipes it (MQTT 5 Session Expiry 0) nor starts its expiry — unless the
// new CONNECT had Clean Start 1, which ended that session (the old connection's delayed will goes out at once).
import type { Client } from 'aedes'

const takenOver = new WeakMap<Client, { endsSession: boolean }>()

/** `endsSession`: the CONNECT taking it over has Clean Start 1 */
export const markTakenOver = (client: Client, endsSession = false): void => { takenOver.set(client, { endsSession }) }
export const isTakenOver = (client: Client): boolean => takenOver.has(client)
export const takeoverOf = (client: Client): { endsSession: boolean } | undefined => takenOver.get(client)
