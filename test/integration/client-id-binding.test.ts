// A client id belongs to the account whose session it is: another account's CONNECT with it gets CONNACK 2
// and leaves the session, its queue, its connection and its will alone.
import { describe, expect, it } from 'vitest'
import { PASSWORD } from '../helpers/broker.js'
import { mosquittoPub } from '../helpers/mosquitto.js'
import { connackCode, publish, subscribe } from '../helpers/mqtt.js'
import { rawSession } from '../helpers/raw-mqtt.js'
import { waitUntil } from '../helpers/ports.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
const as = (username: string, clientId: string, clean: boolean): { username: string, password: string, clientId: string, clean: boolean } =>
  ({ username, password: PASSWORD, clientId, clean })

describe('client id binding', () => {
  it('refuses another account the id of an offline persistent session; the owner then gets all 3 queued messages', async () => {
    const tb = await scope.start()
    const owner = await scope.client('sensor-1', { clientId: 'dev-a', clean: false })
    expect(await subscribe(owner, 'devices/sensor-1/cmd/#', 1)).toEqual([1])
    await owner.end()
    const admin = await scope.client('admin')
    for (const n of [1, 2, 3]) await publish(admin, `devices/sensor-1/cmd/${n}`, `c${n}`, { qos: 1 })

    expect(await connackCode(tb.url, as('sensor-2', 'dev-a', false))).toBe(2)
    expect(await connackCode(tb.url, as('sensor-2', 'dev-a', true))).toBe(2)
    const pub = await mosquittoPub(tb.port, ['-u', 'sensor-2', '-P', PASSWORD, '-i', 'dev-a', '-t', 'sensors/sensor-2/x', '-m', 'x'])
    expect(pub.code).not.toBe(0)
    expect(pub.stderr).toMatch(/identifier rejected/i)
    expect(scope.count('connect:client-id-owned')).toBe(3)
    expect(scope.events.find((e) => e.reason === 'client-id-owned')).toMatchObject({ kind: 'connect', username: 'sensor-2', clientId: 'dev-a' })

    // the owner taking its own session over is MQTT as usual
    const back = await scope.client('sensor-1', { clientId: 'dev-a', clean: false })
    await back.waitFor((m) => m.payload === 'c3', 'third queued message')
    expect(back.messages.map((m) => m.payload).sort()).toEqual(['c1', 'c2', 'c3'])
  })

  it('refuses another account the id of a connected client: the owner stays connected and its will does not fire', async () => {
    const tb = await scope.start()
    const watcher = await scope.client('dashboard')
    await subscribe(watcher, 'sensors/#', 1)
    const owner = await scope.client('sensor-1', {
      clientId: 'dev-b',
      clean: false,
      will: { topic: 'sensors/sensor-1/status', payload: Buffer.from('offline'), qos: 1, retain: true }
    })
    expect(await connackCode(tb.url, as('sensor-2', 'dev-b', false))).toBe(2)
    expect(await connackCode(tb.url, as('sensor-2', 'dev-b', true))).toBe(2)
    // the same connection still works, and nothing was published in its name
    await publish(owner, 'sensors/sensor-1/status', 'still-here', { qos: 1 })
    await watcher.waitFor((m) => m.payload === 'still-here')
    expect(watcher.messages.map((m) => m.payload)).toEqual(['still-here'])
    expect(tb.broker.aedes.connectedClients).toBe(2)
  })

  it('refuses a clean session\'s id to another account while it is connected, and frees it when it ends', async () => {
    const tb = await scope.start()
    const first = await scope.client('sensor-1', { clientId: 'tmp-1', clean: true })
    expect(await connackCode(tb.url, as('sensor-2', 'tmp-1', true))).toBe(2)
    await first.end()
    await waitUntil(async () => await tb.broker.clientIds.get('tmp-1') === undefined ? true : undefined, 'the clean session\'s id to be free')
    expect(await connackCode(tb.url, as('sensor-2', 'tmp-1', true))).toBe(0)
  })

  it('anonymous clients share one account: they keep their ids from accounts, and accounts keep theirs from them', async () => {
    const tb = await scope.start({ config: { anonymous: 'consumer' } })
    const anon = await scope.client(undefined, { clientId: 'anon-1', clean: false })
    expect(await connackCode(tb.url, as('sensor-1', 'anon-1', false))).toBe(2)
    await scope.client('sensor-1', { clientId: 'named-1', clean: false })
    expect(await connackCode(tb.url, { clientId: 'named-1', clean: false })).toBe(2)
    await anon.end()
    expect(await connackCode(tb.url, { clientId: 'anon-1', clean: false })).toBe(0)
  })

  it('a refused clean CONNECT leaves the owner\'s QoS 2 flow alone: its retransmission is not delivered twice', async () => {
    const tb = await scope.start()
    const watcher = await scope.client('dashboard')
    await subscribe(watcher, 'sensors/#', 2)
    const owner = scope.track(await rawSession(tb.port, 'sensor-1', 'dev-q', { clean: false }))
    const packet = { cmd: 'publish', topic: 'sensors/sensor-1/q2', payload: Buffer.from('once'), qos: 2, messageId: 7, retain: false, dup: false } as const
    owner.send(packet)
    await owner.next('pubrec')
    await watcher.waitFor((m) => m.payload === 'once')
    // another account, and a wrong password: both refused, neither may wipe dev-q's stored QoS 2 state
    expect(await connackCode(tb.url, as('sensor-2', 'dev-q', true))).toBe(2)
    expect(await connackCode(tb.url, { ...as('sensor-1', 'dev-q', true), password: 'wrong-password' })).toBe(4)
    owner.send({ ...packet, dup: true })
    await owner.next('pubrec')
    owner.send({ cmd: 'pubrel', messageId: 7 })
    await owner.next('pubcomp')
    await publish(await scope.client('sensor-1', { clientId: 'marker' }), 'sensors/sensor-1/marker', 'after', { qos: 1 })
    await watcher.waitFor((m) => m.payload === 'after')
    expect(watcher.messages.map((m) => m.payload)).toEqual(['once', 'after'])
  })
})
