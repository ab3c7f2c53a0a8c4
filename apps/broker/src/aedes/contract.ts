// Every aedes internal Warden relies on (written against 1.2, checked on 2.0.0-beta.1), with its shape: checked when the broker starts (broker and
// store) and, for all three objects, by test/unit/aedes-contract.test.ts on a real broker, client and store.
import { expectShape, fn, value, type Shape } from './patch.js'

export interface Internal { readonly name: string, readonly shape: Shape, readonly why: string }

/** aedes.js: the Aedes instance */
export const BROKER_INTERNALS: readonly Internal[] = [
  { name: 'counter', shape: value('number'), why: 'each packet\'s brokerCounter; the publish gate predicts it' },
  { name: 'clients', shape: value('object'), why: 'the connected clients by id; made null-prototype (GHSA-52qw-whmv-87c5)' },
  { name: 'brokers', shape: value('object'), why: 'made null-prototype: keyed by broker ids read from the bus (GHSA-52qw-whmv-87c5)' },
  { name: 'mq', shape: value('object'), why: 'the message bus: delivery order, consumer groups' },
  { name: 'publish', shape: fn(3), why: 'the publish gate and the QoS 2 guard wrap it' },
  { name: 'publishWill', shape: fn(2), why: 'a will is known as one (and its Will Delay Interval removed) before it is authorized, delayed or not' },
  { name: 'registerClient', shape: fn(1), why: 'a connection taken over between its CONNACK and the end of its connect steps is told DISCONNECT 0x8E' },
  { name: '_finishRegisterClient', shape: fn(1), why: 'a takeover\'s Clean Start decides the old connection\'s delayed will' },
  { name: 'unregisterClient', shape: fn(1), why: 'the ghost reaper removes clients registered after their socket closed' },
  { name: 'scheduleSessionExpiry', shape: fn(1), why: 'MQTT 5 session expiry is kept in the store, not in a timer of one process' },
  { name: 'scheduleWill', shape: fn(3), why: 'a delayed will of a session taken over on another process is not armed' },
  { name: 'authenticate', shape: fn(4), why: 'sessionPresent for QoS 2 state wraps the hook as aedes calls it' },
  { name: 'authorizeSubscribe', shape: fn(3), why: 'sessionPresent\'s placeholder is refused there' },
  { name: 'preConnect', shape: fn(3), why: 'MQTT 5 refused; each client\'s maps made null-prototype; Clean Start recorded' }
]

/** the bus (mqemitter / mqemitter-redis) */
export const BUS_INTERNALS: readonly Internal[] = [
  { name: 'emit', shape: fn(2), why: 'the publish gate holds messages back to keep their order' },
  { name: 'on', shape: fn(), why: 'consumer groups listen on the bus' },
  { name: 'removeListener', shape: fn(), why: 'consumer groups stop listening' }
]

/** lib/client.js: a Client */
export const CLIENT_INTERNALS: readonly Internal[] = [
  { name: 'broker', shape: value('object'), why: 'a held message that expired is cleared from its client\'s stored queue (outbound-window.ts)' },
  { name: 'clean', shape: value('boolean'), why: 'a refused CONNECT is kept from cleaning another\'s session' },
  { name: 'sessionExpiryInterval', shape: value('number'), why: 'an MQTT 5 session expires after its own Session Expiry Interval' },
  { name: 'connecting', shape: value('boolean'), why: 'a v5 CONNECT refused with Warden\'s own CONNACK code suppresses aedes\'s (v5-answers.ts)' },
  { name: 'version', shape: value('number', 'nullable'), why: 'MQTT 5 clients are told apart (inbound QoS 2 window, resume fix)' },
  {
    name: 'subscriptions',
    shape: value('object'),
    why: 'QoS capping of wildcard subscriptions; Retain As Published at queue replay; the control plane; made null-prototype'
  },
  { name: 'duplicates', shape: value('object'), why: 'replaced: aedes\'s high-water dedupe loses messages' },
  { name: '_will', shape: value('object', 'nullable'), why: 'the CONNECT\'s will is checked against its topic\'s owner' },
  { name: 'will', shape: value('object', 'nullable'), why: 'a will being published is told apart from a client publish' },
  { name: '_disconnected', shape: value('boolean'), why: 'a kicked session closes without its will' },
  { name: '_parser', shape: value('object'), why: 'the packet guard sits in front of parse()' },
  { name: '_nextId', shape: value('number'), why: 'every packet id is given from it, skipping those the session holds (packet-ids.ts)' },
  { name: 'connackSent', shape: value('boolean'), why: 'a new group member gets the group\'s queue' },
  { name: 'deliver0', shape: fn(2), why: 'consumer groups deliver through the member\'s own path' },
  { name: 'deliverQoS', shape: fn(2), why: 'consumer groups deliver through the member\'s own path' },
  { name: '_eos', shape: fn(0), why: 'a resumed MQTT 5 session that ends with its connection is closed as a clean one (resume-queue.ts)' }
]

/** a client's socket (or stream): lib/client.js sets `conn.client` */
export const CONN_INTERNALS: readonly Internal[] = [
  { name: 'client', shape: value('object'), why: 'the shared write bound finds the client of a socket that does not read' }
]

export const PARSER_INTERNALS: readonly Internal[] = [
  { name: 'client', shape: value('object'), why: 'per-connection listeners and wrappers are shared: they find their client from the parser' },
  { name: 'parse', shape: fn(1), why: 'the packet guard frames bytes before mqtt-packet' },
  { name: '_parseSubscribe', shape: fn(0), why: 'a SUBSCRIBE\'s filter \'__proto__\' is disguised from aedes\'s dedupe (prototype-filters.ts)' },
  { name: '_parsePublish', shape: fn(0), why: 'a PUBLISH carrying a property a client may not set is refused as it is parsed (client-properties.ts)' },
  { name: '_parseConnect', shape: fn(0), why: 'a will carrying a property that is not a Will Property is refused as it is parsed (client-properties.ts)' },
  { name: '_emitError', shape: fn(1), why: 'such a packet is refused as mqtt-packet refuses a malformed one' },
  { name: 'on', shape: fn(), why: 'consumer groups watch PUBACK/PUBREC' }
]

/** the persistence interface as aedes 1.2 calls it (store.ts) */
export const STORE_INTERNALS: readonly Internal[] = [
  ...['incomingStorePacket', 'incomingGetPacket', 'incomingDelPacket', 'outgoingEnqueue', 'outgoingEnqueueCombi', 'outgoingUpdate',
    'outgoingClearMessageId', 'addSubscriptions', 'removeSubscriptions'].map((name) => ({ name, shape: fn(3), why: 'wrapped or called by Warden' })),
  ...['cleanIncoming', 'subscriptionsByClient', 'cleanSubscriptions', 'storeRetained']
    .map((name) => ({ name, shape: fn(2), why: 'wrapped or called by Warden' })),
  { name: 'putWill', shape: fn(3), why: 'the connection whose will is stored is known (aedes/takeover-wills.ts)' },
  { name: 'delWill', shape: fn(2), why: 'an older connection\'s close does not remove a newer one\'s will (aedes/takeover-wills.ts)' },
  ...['outgoingStream', 'streamWill', 'createRetainedStreamCombi'].map((name) => ({ name, shape: fn(1), why: 'read by Warden' }))
]

/** Throws WARDEN_ERR_AEDES_CONTRACT for the first internal of `list` missing from `target` or reshaped. */
export function checkInternals (target: object, list: readonly Internal[], where: string): void {
  for (const i of list) expectShape(target, i.name, i.shape, where, i.why)
}
