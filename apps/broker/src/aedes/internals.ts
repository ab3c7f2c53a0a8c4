// The aedes broker and client internals Warden reads or sets (aedes 2.0.0-beta.1; most date from 1.2), named
// here and nowhere else (aedes.js, lib/client.js). aedes's .d.ts covers the public API; everything below is private and checked at start-up
// (contract.ts) and in test/unit/aedes-contract.test.ts.
import type { Aedes, Client, PublishPacket } from 'aedes'

export type Done = (err?: Error | null) => void
/** `broker.publish(packet, client?, done?)`: client null for the broker's own messages */
export type PublishFn = (packet: PublishPacket, client: Client | null | Done, done?: Done) => void
export type Deliver = (packet: object, cb: () => void) => void
export type BusListener<P = never> = (packet: P, done: () => void) => void

/** aedes's message bus (mqemitter, or mqemitter-redis in a cluster) */
export interface Bus {
  emit (packet: object, cb: Done): void
  on (topic: string, l: BusListener<any>, done?: () => void): void
  removeListener (topic: string, l: BusListener<any>, done?: () => void): void
}

export interface MqttParser {
  /** the client it parses for (lib/client.js sets it) */
  readonly client: Client
  parse (buf: Buffer): number
  /** the packet being parsed */
  readonly packet: object
  /** mqtt-packet's parse of a SUBSCRIBE's payload, before the packet is emitted (prototype-filters.ts) */
  _parseSubscribe (): unknown
  on (event: 'packet', l: (packet: { cmd: string, messageId?: number }) => void): void
}

export interface BrokerInternals {
  readonly id: string
  /** the store it was given (its `persistence` option) */
  readonly persistence: unknown
  /** +1 each time aedes builds a packet (aedes-packet): the packet's brokerCounter */
  counter: number
  /** by client id from the wire: made prototype-less (prototype-keys.ts) */
  readonly clients: Record<string, Client | undefined>
  /** last heartbeat per broker id, from the bus: made prototype-less (prototype-keys.ts) */
  readonly brokers: Record<string, number>
  readonly mq: Bus
  publish: PublishFn
  /** authorizePublish then publish of a client's will: at close, after its Will Delay Interval, or at once past pendingSessionsLimit */
  publishWill (client: Client, will: PublishPacket): void
  /** at the end of a CONNECT's steps before CONNACK: takes over (disconnects with 0x8E) the connected client of the id */
  registerClient (client: Client): void
  /** registerClient's end, once the connection taken over (if any) has closed: cancels the id's delayed will and expiry */
  _finishRegisterClient (client: Client): void
  unregisterClient (client: Client): void
  /** MQTT 5: at a client's close, wipes its session (Session Expiry 0) or arms an in-memory timer to (aedes/session-timers.ts) */
  scheduleSessionExpiry (client: Client): void
  /** MQTT 5: at a client's close, arms an in-memory timer publishing its will after its Will Delay Interval */
  scheduleWill (client: Client, will: PublishPacket, delaySeconds: number): void
  /** the hooks, as aedes calls them (Warden's own, set through the options) */
  authenticate: Aedes['authenticate']
  authorizeSubscribe: Aedes['authorizeSubscribe']
  preConnect: Aedes['preConnect']
}

export interface ClientInternals {
  /** the broker that made the client (lib/client.js) */
  readonly broker: { readonly persistence: unknown }
  clean: boolean
  /**
   * aedes 2: the CONNECT's Clean Start flag (`clean` is "Session Expiry 0" for MQTT 5 clients). Set at CONNECT,
   * so not in the contract (checked on an idle client): mqtt5-sessions.test.ts fails if it goes.
   */
  readonly _cleanStart?: boolean
  /** true from CONNECT until CONNACK: aedes writes only to a client connecting or connected (lib/write.js) */
  connecting: boolean
  /** MQTT 5 Server Keep Alive: the keepalive aedes imposes and answers in CONNACK (set at CONNECT, so not in the contract) */
  _serverKeepAlive?: number
  /** MQTT 5: the Session Expiry Interval in seconds (the CONNECT's or the DISCONNECT's, clamped); 0 for 3.1.1 clients */
  readonly sessionExpiryInterval?: number
  /** MQTT 5: the CONNECT's Session Expiry Interval before the clamp (set at CONNECT, so not in the contract) */
  readonly _connectSessionExpiryInterval?: number
  /** MQTT 5 Request Problem Information (false: no Reason String on acknowledgements) */
  readonly _requestProblemInformation?: boolean
  /** the CONNECT's protocol level (3, 4 or 5); null before CONNECT */
  readonly version: number | null
  /** by topic filter from the wire: made prototype-less (prototype-keys.ts); `si`: its MQTT 5 Subscription Identifier;
   * `rap`: MQTT 5 Retain As Published (never set for 3.1.1) */
  readonly subscriptions: Record<string, { qos: number, si?: number | undefined, rap?: boolean | undefined } | undefined>
  /** highest brokerCounter delivered, per broker id: aedes drops a lower one (lib/client.js dedupe) */
  duplicates: Record<string, number>
  /** the CONNECT's will, until the CONNECT is accepted */
  readonly _will: PublishPacket | null
  /** the will aedes publishes when the connection ends without DISCONNECT */
  readonly will: PublishPacket | null
  _disconnected: boolean
  readonly _parser: MqttParser
  _nextId: number
  readonly connackSent: boolean
  readonly deliver0: Deliver
  readonly deliverQoS: Deliver
  /**
   * ends aedes's watch of the socket (lib/client.js: `finished(conn, close)`): close() calls it first thing,
   * before it unsubscribes, whichever way the close came (the socket's end, an error, a takeover, DISCONNECT)
   */
  _eos: () => void
}

/** the one place a broker is seen with its private fields */
export const brokerInternals = (broker: Aedes): BrokerInternals => broker as unknown as BrokerInternals
/** the one place a client is seen with its private fields */
export const clientInternals = (client: Client): ClientInternals => client as unknown as ClientInternals
