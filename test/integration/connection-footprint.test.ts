// What an idle connection costs Warden beyond what aedes itself gives it: no function of Warden's own. Every
// listener Warden puts on a client's socket and parser, and every wrapper it puts on them, is one function
// shared by all connections (a closure each was ~6 KiB of heap a connection with its retained contexts, and
// kept the whole authenticate chain of the CONNECT alive); a 3.1.1 client's parser keeps aedes's listener only.
import type { EventEmitter } from 'node:events'
import type { Client } from 'aedes'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import type { Aedes } from 'aedes'
import { clientsOf, connOf, parserOf } from '../../apps/broker/src/aedes/accessors.js'
import { clientInternals } from '../../apps/broker/src/aedes/internals.js'
import { startBareBroker, until, type BareBroker } from '../helpers/bare-aedes.js'
import { PASSWORD } from '../helpers/broker.js'
import { CONNECT_TIMEOUT_MS } from '../helpers/mqtt.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
const bares: BareBroker[] = []
const opened: MqttClient[] = []
afterEach(async () => {
  for (const c of opened.splice(0)) c.end(true)
  for (const b of bares.splice(0)) await b.close()
})

/** connects and subscribes as an idle device does; resolves once the SUBACK is in */
async function idle (url: string, opts: IClientOptions, filter: string): Promise<void> {
  const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: CONNECT_TIMEOUT_MS, ...opts })
  opened.push(c)
  await new Promise<void>((resolve, reject) => { c.once('connect', () => resolve()); c.once('error', reject) })
  await c.subscribeAsync(filter, { qos: 1 })
}

/**
 * every function a connection holds on its socket and parser (their listeners, once() wrappers as they are, and
 * own function properties) and on its client (aedes's own closures, deliverQoS and the like, and any wrapper of them)
 */
function functionsOf (client: Client): Function[] {
  const out: Function[] = []
  for (const e of [connOf(client), parserOf(client)] as unknown as EventEmitter[]) {
    for (const name of e.eventNames()) out.push(...e.rawListeners(name))
    for (const v of Object.values(e)) if (typeof v === 'function') out.push(v)
  }
  for (const v of Object.values(client)) if (typeof v === 'function') out.push(v)
  return out
}

/** how many functions each connection holds that no other holds: made for it alone */
function ownFunctionsEach (clients: Client[]): number[] {
  const seen = new Map<Function, number>()
  for (const c of clients) for (const f of new Set(functionsOf(c))) seen.set(f, (seen.get(f) ?? 0) + 1)
  return clients.map((c) => [...new Set(functionsOf(c))].filter((f) => seen.get(f) === 1).length)
}

function connected (broker: Aedes, ids: string[]): Client[] {
  return ids.map((id) => { const c = clientsOf(broker)[id]; if (c === undefined) throw new Error(`no client ${id}`); return c })
}

describe('an idle connection on Warden', () => {
  it('holds no function of Warden\'s own: as many made for it alone as bare aedes 2 makes', async () => {
    const bare = await startBareBroker()
    bares.push(bare)
    const ids = ['dev-a', 'dev-b', 'dev-c']
    for (const id of ids) await idle(`mqtt://127.0.0.1:${bare.port}`, { clientId: id }, `cmd/${id}`)
    await until(() => Object.keys(clientsOf(bare.broker)).length === ids.length)
    const aedesOwn = ownFunctionsEach(connected(bare.broker, ids))

    const tb = await scope.start()
    const users = ['sensor-1', 'sensor-2', 'dashboard']
    for (const [i, u] of users.entries()) {
      await idle(tb.url, { clientId: ids[i], username: u, password: PASSWORD }, u === 'dashboard' ? 'sensors/#' : `devices/${u}/cmd/#`)
    }
    const clients = connected(tb.broker.aedes, ids)
    expect(ownFunctionsEach(clients)).toEqual(aedesOwn)
    // the one table that remembers nothing, shared (delivery/forward-dedupe.ts)
    expect(new Set(clients.map((c) => clientInternals(c).duplicates)).size).toBe(1)
  })

  // aedes/retain-as-published.ts: only a persistent session records its retained deliveries
  it('leaves a clean session aedes\'s own deliverQoS; a persistent one, MQTT 5 too, gets the Retain As Published wrapper', async () => {
    const bare = await startBareBroker()
    bares.push(bare)
    await idle(`mqtt://127.0.0.1:${bare.port}`, { clientId: 'bare' }, 'cmd/bare')
    await until(() => clientsOf(bare.broker)['bare'] !== undefined)
    const source = (c: Client): string => clientInternals(c).deliverQoS.toString()
    const aedesOwn = source(connected(bare.broker, ['bare'])[0] as Client)

    const tb = await scope.start()
    await idle(tb.url, { clientId: 'clean', username: 'sensor-1', password: PASSWORD }, 'devices/sensor-1/cmd/#')
    const cleanV5 = { clientId: 'clean-v5', username: 'sensor-2', password: PASSWORD, protocolVersion: 5 } as const
    await idle(tb.url, cleanV5, 'devices/sensor-2/cmd/#')
    await idle(tb.url, { clientId: 'kept', username: 'dashboard', password: PASSWORD, clean: false }, 'sensors/#')
    // MQTT 5: Clean Start 1 with a Session Expiry is a persistent session too
    const keptV5 = { clientId: 'kept-v5', username: 'sensor-1', password: PASSWORD, protocolVersion: 5, properties: { sessionExpiryInterval: 60 } } as const
    await idle(tb.url, keptV5, 'devices/sensor-1/cmd/#')
    const [clean, v5, kept, keptV5Client] = connected(tb.broker.aedes, ['clean', 'clean-v5', 'kept', 'kept-v5']) as [Client, Client, Client, Client]
    expect(source(clean)).toBe(aedesOwn)
    expect(source(v5)).toBe(aedesOwn)
    expect(source(kept)).not.toBe(aedesOwn)
    expect(source(keptV5Client)).not.toBe(aedesOwn)
  })

  // Node keeps two listeners of an event in a pair, three or more in an array of 19 slots
  it('adds one close listener to what aedes puts on a socket, whatever the session', async () => {
    const bare = await startBareBroker()
    bares.push(bare)
    await idle(`mqtt://127.0.0.1:${bare.port}`, { clientId: 'bare' }, 'cmd/bare')
    await until(() => clientsOf(bare.broker)['bare'] !== undefined)
    const closeListeners = (c: Client): number => (connOf(c) as unknown as EventEmitter).listenerCount('close')
    const aedesOwn = closeListeners(connected(bare.broker, ['bare'])[0] as Client)

    const tb = await scope.start()
    // a login slot, a client-id binding, a persistent session resumed (sessionPresent, $share/ resume), MQTT 5
    await idle(tb.url, { clientId: 'clean', username: 'sensor-1', password: PASSWORD }, 'devices/sensor-1/cmd/#')
    const resumed = { clientId: 'kept', username: 'dashboard', password: PASSWORD, clean: false }
    await idle(tb.url, resumed, 'sensors/#')
    opened.find((c) => c.options.clientId === 'kept')?.end(true)
    await until(() => clientsOf(tb.broker.aedes)['kept'] === undefined)
    await idle(tb.url, resumed, 'sensors/#')
    const v5 = { clientId: 'v5', username: 'sensor-2', password: PASSWORD, protocolVersion: 5, clean: false } as const
    await idle(tb.url, { ...v5, properties: { sessionExpiryInterval: 60 } }, 'devices/sensor-2/cmd/#')
    for (const c of connected(tb.broker.aedes, ['clean', 'kept', 'v5'])) expect(closeListeners(c)).toBe(aedesOwn + 1)
  })

  it('leaves a 3.1.1 client\'s parser to aedes once its CONNECT is handled; an MQTT 5 client\'s keeps the one shared listener', async () => {
    const tb = await scope.start()
    await idle(tb.url, { clientId: 'v3', username: 'sensor-1', password: PASSWORD }, 'devices/sensor-1/cmd/#')
    await idle(tb.url, { clientId: 'v5a', username: 'sensor-2', password: PASSWORD, protocolVersion: 5 }, 'devices/sensor-2/cmd/#')
    await idle(tb.url, { clientId: 'v5b', username: 'dashboard', password: PASSWORD, protocolVersion: 5 }, 'sensors/#')
    const [v3, v5a, v5b] = connected(tb.broker.aedes, ['v3', 'v5a', 'v5b']) as [Client, Client, Client]
    const packetListeners = (c: Client): Function[] => (parserOf(c) as unknown as EventEmitter).rawListeners('packet')
    expect(packetListeners(v3)).toHaveLength(1)
    expect(packetListeners(v5a)).toHaveLength(2)
    expect(packetListeners(v5a)[0]).toBe(packetListeners(v5b)[0])
  })
})
