// What a holder of a low-privilege account tried that Warden already withstood, kept so it stays so (red team,
// round 12): consumer groups whose members may read different topics, group names and filters named like
// Object.prototype members, and a subscriber's Maximum Packet Size against a message swollen by User Properties.
import { describe, expect, it } from 'vitest'
import { publish, subscribe } from '../helpers/mqtt.js'
import { connect5, subscribe5 } from '../helpers/mqtt5.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()

describe.each(['memory', 'level'] as const)('%s store', (persistence) => {
  it('a group on # whose members read different topics gives each topic only to members that may read it', async () => {
    await scope.start({ config: { persistence } })
    // dashboard reads sensors/#, the observer everything: private/x is for the observer alone
    const dash = await connect5(scope, scope.tb.url, 'dashboard', { clientId: 'dash' })
    const obs = await connect5(scope, scope.tb.url, 'observer', { clientId: 'obs' })
    expect(await subscribe5(dash, '$share/g/#', { qos: 1 })).toEqual([1])
    expect(await subscribe5(obs, '$share/g/#', { qos: 1 })).toEqual([1])
    const owner = await scope.client('sensor-1')
    for (let i = 0; i < 6; i++) {
      await publish(owner, 'private/x', `private-${i}`, { qos: 1 })
      await publish(owner, 'sensors/sensor-1/t', `sensor-${i}`, { qos: 1 })
    }
    await publish(owner, 'private/x', 'end', { qos: 1 })
    await obs.next((p) => p.payload.toString() === 'end')
    expect(dash.got.filter((p) => p.topic === 'private/x')).toEqual([])
    expect(obs.got.filter((p) => p.topic === 'private/x').map((p) => p.payload.toString()))
      .toEqual(['private-0', 'private-1', 'private-2', 'private-3', 'private-4', 'private-5', 'end'])
    // each sensors message went to one member of the group, once
    const sensors = [...dash.got, ...obs.got].filter((p) => p.topic === 'sensors/sensor-1/t').map((p) => p.payload.toString()).sort()
    expect(sensors).toEqual(['sensor-0', 'sensor-1', 'sensor-2', 'sensor-3', 'sensor-4', 'sensor-5'])
  })

  it('groups named __proto__ and constructor, and UNSUBSCRIBEs of such names never subscribed, are ordinary names', async () => {
    await scope.start({ config: { persistence } })
    const opts = { clientId: 'proto-member', clean: false, properties: { sessionExpiryInterval: 300 } }
    const m = await connect5(scope, scope.tb.url, 'dashboard', opts)
    expect(await subscribe5(m, ['$share/__proto__/sensors/#', '$share/constructor/sensors/sensor-1/+'], { qos: 1 })).toEqual([1, 1])
    const never = ['$share/__proto__/x', '__proto__', '$share/hasOwnProperty/#']
    const codes = await new Promise<number[]>((resolve, reject) => m.client.unsubscribe(never, {}, (err, p) => {
      if (err !== undefined && err !== null) reject(err); else resolve((p as { granted?: number[] } | undefined)?.granted ?? [])
    }))
    expect(codes).toEqual([0x11, 0x11, 0x11])
    await m.end()
    const owner = await scope.client('sensor-1')
    await publish(owner, 'sensors/sensor-1/a', 'while-away', { qos: 1 })
    const back = await connect5(scope, scope.tb.url, 'dashboard', opts)
    await back.next((p) => p.payload.toString() === 'while-away')
    await publish(owner, 'sensors/sensor-1/a', 'live', { qos: 1 })
    await back.next((p) => p.payload.toString() === 'live')
    // one copy per group
    expect(back.got.map((p) => p.payload.toString())).toEqual(['while-away', 'while-away', 'live', 'live'])
    expect(Object.getPrototypeOf({})).toBe(Object.prototype)
  })
})

it('a message over a subscriber\'s Maximum Packet Size by its User Properties is not sent to it, audited; the next one is', async () => {
  await scope.start({ config: { persistence: 'memory' } })
  const small = await connect5(scope, scope.tb.url, 'observer', { clientId: 'small', properties: { maximumPacketSize: 2000 } })
  await subscribe5(small, 'sensors/#', { qos: 1 })
  const large = await scope.client('observer', { clientId: 'large' })
  await subscribe(large, 'sensors/#', 1)
  const device = await connect5(scope, scope.tb.url, 'sensor-1', { clientId: 'device' })
  const userProperties: Record<string, string> = {}
  for (let i = 0; i < 100; i++) userProperties[`k${i}`] = 'v'.repeat(40)
  await device.client.publishAsync('sensors/sensor-1/big', 'x', { qos: 1, properties: { userProperties } })
  await device.client.publishAsync('sensors/sensor-1/after', 'y', { qos: 1 })
  await small.next((p) => p.topic === 'sensors/sensor-1/after')
  await large.waitFor((m) => m.topic === 'sensors/sensor-1/after')
  expect(small.got.map((p) => p.topic)).toEqual(['sensors/sensor-1/after'])
  expect(large.messages.map((m) => m.topic)).toEqual(['sensors/sensor-1/big', 'sensors/sensor-1/after'])
  expect(scope.count('delivery:packet-too-large')).toBe(1)
})
