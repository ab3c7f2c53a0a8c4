// Warden with the real Mosquitto command-line clients speaking MQTT 5 (-V mqttv5): what they are told when
// ownership refuses them, and a mixed fleet with MQTT.js 3.1.1 clients.
import type { Client, Subscription } from 'aedes'
import { afterEach, describe, expect, it } from 'vitest'
import { PASSWORD } from '../helpers/broker.js'
import { mosquittoPub, mosquittoSub, type Sub } from '../helpers/mosquitto.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
const subs: Sub[] = []
afterEach(async () => { await Promise.all(subs.splice(0).map((s) => s.stop())) })

async function watch (id: string, user: string, filters: string[], extra: string[] = []): Promise<Sub> {
  const aedes = scope.tb.broker.aedes
  const subscribed = new Promise<Subscription[]>((resolve) => {
    const on = (s: Subscription[], c: Client): void => { if (c.id === id) { aedes.removeListener('subscribe', on); resolve(s) } }
    aedes.on('subscribe', on)
  })
  const sub = mosquittoSub(scope.tb.port, ['-V', 'mqttv5', '-i', id, '-u', user, '-P', PASSWORD, '-v', ...filters.flatMap((f) => ['-t', f]), ...extra])
  subs.push(sub)
  await Promise.race([subscribed, sub.exited().then((r) => { throw new Error(`mosquitto_sub exited: ${r.stderr}`) })])
  return sub
}

const pub5 = (user: string, topic: string, msg: string, extra: string[] = [], password = PASSWORD): ReturnType<typeof mosquittoPub> =>
  mosquittoPub(scope.tb.port, ['-V', 'mqttv5', '-u', user, '-P', password, '-t', topic, '-m', msg, ...extra])

describe('mosquitto_pub / mosquitto_sub -V mqttv5', () => {
  it('an owner\'s publish reaches a v5 mosquitto_sub and a 3.1.1 MQTT.js subscriber; a 3.1.1 publisher reaches mosquitto_sub', async () => {
    await scope.start({ config: { mqtt5: true } })
    const sub = await watch('ops5', 'observer', ['sensors/#'])
    const v3 = await scope.client('dashboard')
    await v3.client.subscribeAsync('sensors/#', { qos: 1 })
    const r = await pub5('sensor-1', 'sensors/sensor-1/t', 'from-v5', ['-q', '1'])
    expect(r.code).toBe(0)
    await sub.waitForLine((l) => l === 'sensors/sensor-1/t from-v5')
    await v3.waitFor((m) => m.payload === 'from-v5')
    const dev = await scope.client('sensor-2')
    await dev.client.publishAsync('sensors/sensor-2/t', 'from-v3', { qos: 1 })
    await sub.waitForLine((l) => l === 'sensors/sensor-2/t from-v3')
  })

  it.each(['1', '2'])('a non-owner\'s QoS %s publish is told "Not authorized"; nothing reaches mosquitto_sub or the retained store', async (qos) => {
    await scope.start({ config: { mqtt5: true } })
    const sub = await watch('ops5', 'observer', ['sensors/#'])
    const r = await pub5('sensor-2', 'sensors/sensor-1/t', 'forged', ['-q', qos, '-r'])
    expect(`${r.stdout}${r.stderr}`).toMatch(/not authori[sz]ed/i)
    expect(scope.count('publish:not-owner')).toBe(1)
    expect((await pub5('sensor-1', 'sensors/sensor-1/t', 'marker', ['-q', '1'])).code).toBe(0)
    await sub.waitForLine((l) => l.endsWith(' marker'))
    expect(sub.lines).toEqual(['sensors/sensor-1/t marker'])
    const watcher = await scope.client('observer', { protocolVersion: 5 })
    await watcher.client.subscribeAsync('sensors/#', { qos: 1 })
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(watcher.messages).toEqual([])
  })

  it('a bad password is told so (CONNACK 0x86)', async () => {
    await scope.start({ config: { mqtt5: true } })
    const r = await pub5('sensor-1', 'sensors/sensor-1/t', 'x', [], 'wrong')
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/bad user ?name or password/i)
  })

  it('a denied subscription is told "Not authorized" (SUBACK 0x87)', async () => {
    await scope.start({ config: { mqtt5: true } })
    const sub = mosquittoSub(scope.tb.port, ['-V', 'mqttv5', '-i', 'dash5', '-u', 'dashboard', '-P', PASSWORD, '-t', 'private/#', '-v'])
    subs.push(sub)
    const r = await sub.exited()
    expect(`${r.stdout}${r.stderr}`).toMatch(/denied|not authori[sz]ed/i)
    expect(scope.count('subscribe:not-granted')).toBe(1)
  })
})
