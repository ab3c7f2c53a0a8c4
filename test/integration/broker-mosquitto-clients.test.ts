// Warden with the real Mosquitto command-line clients: devices publish with mosquitto_pub, operators watch
// with mosquitto_sub.
import { once } from 'node:events'
import type { Client, Subscription } from 'aedes'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { PASSWORD, type TestBroker } from '../helpers/broker.js'
import { mosquittoPub, mosquittoSub, type Sub } from '../helpers/mosquitto.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
let tb: TestBroker
const subs: Sub[] = []
beforeEach(async () => { tb = await scope.start() })
// mosquitto_sub processes end before the broker closes (after-hooks run last-registered first)
afterEach(async () => {
  await Promise.all(subs.splice(0).map((s) => s.stop()))
})

/** Starts mosquitto_sub and resolves once the broker has processed its SUBSCRIBE. */
async function watch (id: string, user: string, filters: string[], extra: string[] = []): Promise<Sub> {
  const subscribed = new Promise<Subscription[]>((resolve) => {
    const on = (s: Subscription[], c: Client): void => {
      if (c.id === id) { tb.broker.aedes.removeListener('subscribe', on); resolve(s) }
    }
    tb.broker.aedes.on('subscribe', on)
  })
  const sub = mosquittoSub(tb.port, ['-i', id, '-u', user, '-P', PASSWORD, '-v', ...filters.flatMap((f) => ['-t', f]), ...extra])
  subs.push(sub)
  await Promise.race([subscribed, sub.exited().then((r) => { throw new Error(`mosquitto_sub exited: ${r.stderr}`) })])
  return sub
}

async function retainedTopics (): Promise<string[]> {
  const persistence = (tb.broker.aedes as unknown as { persistence: { createRetainedStream: (p: string) => AsyncIterable<{ topic: string }> } }).persistence
  const topics: string[] = []
  for await (const p of persistence.createRetainedStream('#')) topics.push(p.topic)
  return topics
}

const pub = (user: string, topic: string, msg: string, extra: string[] = []): ReturnType<typeof mosquittoPub> =>
  mosquittoPub(tb.port, ['-u', user, '-P', PASSWORD, '-t', topic, '-m', msg, ...extra])

describe('mosquitto clients', () => {
  it.each(['0', '1', '2'])('an owner publishes with mosquitto_pub at QoS %s and mosquitto_sub shows it', async (qos) => {
    const sub = await watch('ops', 'observer', ['#'])
    const r = await pub('sensor-1', 'sensors/sensor-1/temp', `t-${qos}`, ['-q', qos, '-r'])
    expect(r.code).toBe(0)
    expect(await sub.waitForLine((l) => l.endsWith(`t-${qos}`))).toBe(`sensors/sensor-1/temp t-${qos}`)
    expect(await retainedTopics()).toEqual(['sensors/sensor-1/temp'])
  })

  it.each(['0', '1', '2'])('a non-owner\'s QoS %s mosquitto_pub is refused and nothing reaches mosquitto_sub', async (qos) => {
    const sub = await watch('ops', 'observer', ['#', '$SYS/warden/audit/#'])
    const r = await pub('sensor-2', 'sensors/sensor-1/temp', 'forged', ['-q', qos, '-r'])
    // drop mode: mosquitto_pub's flow completes; it cannot tell, but the audit can
    expect(r.code).toBe(0)
    await sub.waitForLine((l) => l.startsWith('$SYS/warden/audit/publish ') && l.includes('"username":"sensor-2"'))
    expect((await pub('sensor-1', 'sensors/sensor-1/temp', 'marker', ['-q', '1'])).code).toBe(0)
    await sub.waitForLine((l) => l.endsWith(' marker'))
    expect(sub.lines.filter((l) => !l.startsWith('$SYS')).map((l) => l.split(' ')[1])).toEqual(['marker'])
    // not retained either: the store holds no retained message at all
    expect(await retainedTopics()).toEqual([])
  })

  it('refuses bad credentials with the CONNACK code mosquitto_pub reports', async () => {
    const r = await mosquittoPub(tb.port, ['-u', 'sensor-1', '-P', 'wrong', '-t', 'sensors/sensor-1/x', '-m', 'x'])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/bad user name or password/i)
    const anon = await mosquittoPub(tb.port, ['-t', 'sensors/sensor-1/x', '-m', 'x'])
    expect(anon.stderr).toMatch(/not authori[sz]ed/i)
  })

  it('disconnects a mosquitto_pub intruder in disconnect mode', async () => {
    tb = await scope.start({ config: { deniedPublish: 'disconnect' } })
    const sub = await watch('ops', 'observer', ['#'])
    const closed = once(tb.broker.aedes, 'clientDisconnect')
    await pub('sensor-2', 'sensors/sensor-1/temp', 'forged', ['-q', '1', '-i', 'intruder'])
    await closed
    await pub('sensor-1', 'sensors/sensor-1/temp', 'marker', ['-q', '1'])
    await sub.waitForLine((l) => l.endsWith(' marker'))
    expect(sub.lines).toEqual(['sensors/sensor-1/temp marker'])
  })

  it('a consumer\'s mosquitto_sub on # shows only what it may read', async () => {
    const sub = await watch('dash', 'dashboard', ['#'])
    await pub('sensor-1', 'private/diary', 'secret', ['-q', '1'])
    await pub('sensor-1', 'sensors/sensor-1/x', 'marker', ['-q', '1'])
    await sub.waitForLine((l) => l.endsWith(' marker'))
    expect(sub.lines).toEqual(['sensors/sensor-1/x marker'])
  })
})
