// Connections ended because their client id connected on another broker process: their session is the new
// connection's now, so their close neither wipes it (MQTT 5 Session Expiry 0) nor starts its expiry.
import type { Client } from 'aedes'

const takenOver = new WeakSet<Client>()

export const markTakenOver = (client: Client): void => { takenOver.add(client) }
export const isTakenOver = (client: Client): boolean => takenOver.has(client)
