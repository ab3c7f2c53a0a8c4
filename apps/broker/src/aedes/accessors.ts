// What the rest of Warden may do with aedes's private state, one verb each: callers never name a private
// field. Every field used here is in internals.ts and checked by the contract.
import type { Duplex } from 'node:stream'
import type { Aedes, Client, PublishPacket } from 'aedes'
import { fn, patch, value } from './patch.js'
import { brokerInternals, clientInternals, type Bus, type Deliver, type MqttParser } from './internals.js'
import { storeOf, type StoredPacket } from './store.js'
import { releasePacketId, takePacketId } from './packet-ids.js'

/** the connected clients of this process by client id (aedes's own map) */
export const clientsOf = (broker: Aedes): Readonly<Record<string, Client | undefined>> => brokerInternals(broker).clients

/** the message bus every message goes through (also the one consumer groups listen on) */
export const busOf = (broker: Aedes): Bus => brokerInternals(broker).mq

/** takes a client out of aedes's map without closing it (a client registered after its socket closed) */
export const unregisterClient = (broker: Aedes, client: Client): void => { brokerInternals(broker).unregisterClient(client) }

/** the number aedes will give the next packet it builds is this plus one */
export const packetCounter = (broker: Aedes): number => brokerInternals(broker).counter
export const setPacketCounter = (broker: Aedes, n: number): void => { brokerInternals(broker).counter = n }
/** takes the next packet number for a packet built later (as aedes-packet would) */
export const takePacketNumber = (broker: Aedes): number => ++brokerInternals(broker).counter

/** the socket (or stream) under a client, with the parts of a stream Warden uses */
export const connOf = (client: Client): Duplex => client.conn as Duplex

/** the live subscriptions of a connected client, by filter */
export const subscriptionsOf = (client: Client): Readonly<Record<string, { qos: number, si?: number | undefined, rap?: boolean | undefined } | undefined>> =>
  clientInternals(client).subscriptions ?? {}

/**
 * The filters of a client's live subscriptions, in aedes's order, for what runs on idle clients too (counts,
 * views, a SUBSCRIBE): not `for…in` or Object.keys on that object. Its keys are the client's own filters, so it
 * has a hidden class of its own, and either of them leaves an enum cache on that class for as long as the client
 * lives — ~60 bytes a connection, once $SYS/warden/stats, the metrics or a status had counted them.
 * Reflect.ownKeys makes the list and leaves nothing. (Per delivery, `for…in` stays: its cache is what makes it
 * fast, and a client that is sent messages is not idle.)
 */
export const subscriptionFilters = (client: Client): string[] =>
  Reflect.ownKeys(subscriptionsOf(client)).filter((k): k is string => typeof k === 'string')

/** replaces aedes's per-client high-water table of delivered brokerCounters (lib/client.js dedupe) */
export function replaceDuplicates (client: Client, table: Record<string, number>): void {
  patch(clientInternals(client), 'duplicates', value('object'), () => table,
    'aedes drops a delivery numbered below the last one, losing out-of-order messages', 'client')
}

/** the will of a CONNECT being authenticated (set before authenticate, null without one) */
export const pendingWillOf = (client: Client): PublishPacket | null => clientInternals(client)._will ?? null

/** wills aedes is publishing through publishWill (a delayed will's client no longer holds it: `will` is null) */
const wills = new WeakSet<object>()
export const markWill = (packet: object): void => { wills.add(packet) }

/** whether `packet` is the will aedes is publishing for this client (now, or after its Will Delay Interval) */
export const isWillOf = (client: Client, packet: object): boolean => clientInternals(client).will === packet || wills.has(packet)

/**
 * Whether the client's session leaves nothing behind it: it started clean (Clean Session 1, or Clean Start 1)
 * and ends with its connection. aedes 2 sets `clean` from the Session Expiry Interval alone for MQTT 5: a
 * v5 session resumed with Clean Start 0 and no expiry holds the previous session's subscriptions and
 * queue until it closes, and a crash leaves them in the store.
 */
export const isCleanSession = (client: Client): boolean => client.clean && (clientInternals(client)._cleanStart ?? true)

/** whether the CONNECT asked to resume the stored session (Clean Session 0, or Clean Start 0 for MQTT 5) */
export const resumesSession = (client: Client): boolean => !(clientInternals(client)._cleanStart ?? client.clean)

/** keeps aedes from treating the client as clean: closing it then leaves its stored session alone */
export const markPersistent = (client: Client): void => { clientInternals(client).clean = false }

/** clients aedes was made to see as persistent while they were connected, whose session ends with the connection */
const persistentWhileConnected = new WeakSet<object>()

/**
 * aedes treats the client as persistent until its close begins: it stores each QoS 1/2 delivery and PUBREL
 * before writing it, and clears it on its acknowledgement. At the start of its close (`_eos`, before aedes
 * unsubscribes it) the client is clean again, so it is closed as one, and its session ends with its connection.
 */
export function persistWhileConnected (client: Client, why: string): void {
  const c = clientInternals(client)
  c.clean = false
  persistentWhileConnected.add(client)
  patch(c, '_eos', fn(0), (eos) => () => {
    c.clean = true
    eos()
  }, why, 'client')
}

/** whether the store may hold packets aedes stored for this session's connection although it ends clean */
export const storedWhileConnected = (session: object): boolean => persistentWhileConnected.has(session)

/** whether the client's session outlives its connection (not so for one aedes only sees as persistent) */
export const outlivesConnection = (client: Client): boolean => !client.clean && !persistentWhileConnected.has(client)

/** whether aedes stores a QoS 1/2 delivery to the client before writing it: it must be queued for the client first */
export const storesDeliveries = (client: Client): boolean => !client.clean

/** makes aedes close the client as if it had sent DISCONNECT: its will is not published */
export const markDisconnected = (client: Client): void => { clientInternals(client)._disconnected = true }

/** the client's MQTT parser (mqtt-packet): aedes feeds it every chunk read from the socket */
export const parserOf = (client: Client): MqttParser => clientInternals(client)._parser

/** the client a parser feeds: a listener shared by every connection's parser finds its client so */
export const clientOfParser = (parser: MqttParser): Client => parser.client

/** the client on a socket (aedes sets `conn.client`): a wrapper shared by every socket finds its client so */
export const clientOfConn = (conn: Duplex): Client => (conn as Duplex & { client: Client }).client

/** the next packet id, from the client's own counter as aedes numbers its deliveries: one its session does not hold */
export const nextPacketId = (client: Client): number => takePacketId(client)

/** a packet id nextPacketId gave for a message that is not sent under it after all: free for another one */
export const returnPacketId = (client: Client, id: number): void => { releasePacketId(client, id) }

/** whether aedes has sent this client its CONNACK */
export const connackSent = (client: Client): boolean => clientInternals(client).connackSent

/** the client's own delivery functions (authorizeForward, QoS capping and its stored queue apply) */
export const deliverersOf = (client: Client): { atQos0: Deliver, atQos: Deliver } => {
  const c = clientInternals(client)
  return { atQos0: c.deliver0, atQos: c.deliverQoS }
}

/**
 * The store forgets a QoS 1/2 message meant for the client, as its acknowledgement would make it (a persistent
 * session's queue). A message dropped on its way to a connected client has no packet id yet, and the stores
 * remove queued messages by id only: it is given the client's next one first, as aedes would have.
 */
export function forgetDelivery (client: Client, packet: { qos?: number, messageId?: number | undefined }): void {
  if (client.clean || packet.qos === 0) return
  const store = storeOf(clientInternals(client).broker.persistence)
  const numbered = packet.messageId !== undefined
    ? Promise.resolve(packet)
    : (async () => {
        const p = { ...packet, messageId: nextPacketId(client) } as StoredPacket
        await store.outgoingUpdate(client, p)
        return p
      })()
  numbered.then((p) => store.outgoingClearMessageId(client, p)).catch(() => {})
}

/** an MQTT 5 client is told to use this keepalive (CONNACK Server Keep Alive) and held to it */
export const imposeKeepAlive = (client: Client, seconds: number): void => { clientInternals(client)._serverKeepAlive = seconds }
/** MQTT 5: the session's expiry interval in seconds as it stands (CONNECT, or a DISCONNECT that changed it); undefined for 3.1.1 */
export const sessionExpiryOf = (client: Client): number | undefined => {
  const c = clientInternals(client)
  return c.version === 5 ? c.sessionExpiryInterval ?? 0 : undefined
}

/** MQTT 5: the Session Expiry Interval the CONNECT asked for (before the clamp); undefined for 3.1.1 */
export const connectSessionExpiryOf = (client: Client): number | undefined => {
  const c = clientInternals(client)
  return c.version === 5 ? c._connectSessionExpiryInterval ?? 0 : undefined
}
