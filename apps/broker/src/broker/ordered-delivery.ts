// Keeps each client's messages in order while the store works on them concurrently.
//
// aedes awaits the store at several steps of a QoS>0 message's way: a persistent subscriber's message is
// written only after its packet id is recorded (outgoingUpdate), and an incoming QoS 2 message is published
// only after the store has been checked (incomingGetPacket) and written (incomingStorePacket). With a store
// that completes writes out of order (LevelDB works in a thread pool), two messages of one client could
// overtake each other at any of these steps, breaking MQTT 3.1.1's ordered topics (4.6). Resolving each
// client's calls in the order they were made keeps the order and keeps the store's concurrency.

type ClientCall = (client: { id: string }, packet: unknown) => Promise<unknown>

const ORDERED_METHODS = ['outgoingUpdate', 'incomingGetPacket', 'incomingStorePacket'] as const

export function orderPerClient (persistence: unknown): void {
  const store = persistence as Record<(typeof ORDERED_METHODS)[number], ClientCall>
  for (const method of ORDERED_METHODS) {
    if (typeof store[method] === 'function') store[method] = inCallOrder(store[method].bind(store))
  }
}

function inCallOrder (call: ClientCall): ClientCall {
  const tails = new Map<string, Promise<unknown>>()
  return function orderedCall (client, packet) {
    const id = client.id
    const result = call(client, packet)
    // a rejection ("no such packet" is how a new QoS 2 id is found) is passed on in its turn, not unhandled now
    result.catch(noop)
    const previous = tails.get(id)
    const ordered = previous === undefined ? result : previous.then(() => result, () => result)
    const tail = ordered.then(noop, noop)
    tails.set(id, tail)
    void tail.then(() => { if (tails.get(id) === tail) tails.delete(id) })
    return ordered
  }
}

function noop (): void {}
