// MQTT 5 request/response (config `replies`): a client that asks gets its reply topic as Response Information;
// the holders of a responder role answer there, only that client reads there, and nobody else does either
// way (a valid account without the role, an observer reading '#', an admin). The control plane answers only
// under $CONTROL/warden/v1/response, whatever Response Topic a request names.
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt'
import { describe, expect, it } from 'vitest'
import { baseConfig, fastHash, PASSWORD } from '../helpers/broker.js'
import { mosquittoPub } from '../helpers/mosquitto.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()

/** `replies: null`: none */
async function repliesConfig (replies: Record<string, unknown> | null = { prefix: 'reply', responders: ['service'] }): Promise<Record<string, unknown>> {
  const base = await baseConfig()
  return {
    ...(replies !== null ? { replies } : {}),
    roles: { ...(base.roles as Record<string, unknown>), service: { subscribe: ['requests/#'] } },
    users: [...(base.users as unknown[]), { username: 'svc', passwordHash: await fastHash(PASSWORD), roles: ['service'] }],
    topics: [...(base.topics as unknown[]), { filter: 'requests/#', owners: ['sensor-1', 'sensor-2'] }]
  }
}

interface V5 { client: MqttClient, got: IPublishPacket[], connack: { properties?: Record<string, unknown> } }

async function v5 (username: string, opts: IClientOptions = {}): Promise<V5> {
  const client = mqtt.connect(scope.tb.url, { username, password: PASSWORD, protocolVersion: 5, reconnectPeriod: 0, ...opts })
  scope.defer(() => new Promise<void>((resolve) => client.end(true, {}, () => resolve())))
  const got: IPublishPacket[] = []
  client.on('message', (_t, _p, packet) => got.push(packet))
  const connack = await new Promise<V5['connack']>((resolve, reject) => {
    client.once('connect', (p) => resolve(p as V5['connack']))
    client.once('error', reject)
  })
  return { client, got, connack }
}

function next (c: V5, pred: (p: IPublishPacket) => boolean): Promise<IPublishPacket> {
  return new Promise((resolve) => {
    const on = (): void => {
      const found = c.got.find(pred)
      if (found !== undefined) resolve(found); else c.client.once('message', on)
    }
    on()
  })
}

async function pubackCode (c: MqttClient, topic: string, payload: string, properties?: IPublishPacket['properties']): Promise<number> {
  try {
    const p = await c.publishAsync(topic, payload, { qos: 1, ...(properties !== undefined ? { properties } : {}) })
    return (p as { reasonCode?: number } | undefined)?.reasonCode ?? 0
  } catch (err) {
    return (err as { code?: number }).code ?? -1
  }
}

describe('reply topics (replies)', () => {
  it('Response Information is the client\'s reply topic, given only to a client that asks, whose id is one topic level', async () => {
    await scope.start({ config: await repliesConfig() })
    const asks = await v5('sensor-1', { clientId: 'req-1', properties: { requestResponseInformation: true } })
    expect(asks.connack.properties?.responseInformation).toBe('reply/req-1/')
    const silent = await v5('sensor-1', { clientId: 'req-2' })
    expect(silent.connack.properties?.responseInformation).toBeUndefined()
    // an id with '/' would make its reply topic a subtopic of another client's
    const slashed = await v5('sensor-1', { clientId: 'a/b', properties: { requestResponseInformation: true } })
    expect(slashed.connack.properties?.responseInformation).toBeUndefined()
  })

  it('without replies in the config, none is given', async () => {
    await scope.start({ config: await repliesConfig(null) })
    const asks = await v5('sensor-1', { clientId: 'req-1', properties: { requestResponseInformation: true } })
    expect(asks.connack.properties?.responseInformation).toBeUndefined()
  })

  it('a request and its answer: a responder publishes on the requester\'s reply topic, which the requester reads', async () => {
    await scope.start({ config: await repliesConfig() })
    const svc = await v5('svc', { clientId: 'svc-1' })
    await svc.client.subscribeAsync('requests/#', { qos: 1 })
    svc.client.on('message', (_t, payload, packet) => {
      const rt = packet.properties?.responseTopic
      const properties = { correlationData: packet.properties?.correlationData }
      // its PUBACK may still be on the way when the test ends
      if (rt !== undefined) svc.client.publishAsync(rt, `answer to ${payload.toString()}`, { qos: 1, properties }).catch(() => {})
    })
    const req = await v5('sensor-1', { clientId: 'req-1', properties: { requestResponseInformation: true } })
    const mine = String(req.connack.properties?.responseInformation)
    await req.client.subscribeAsync(`${mine}#`, { qos: 1 })
    expect(await pubackCode(req.client, 'requests/time', 'what time', { responseTopic: `${mine}time`, correlationData: Buffer.from('c-7') })).toBe(0)
    const answer = await next(req, (p) => p.topic === 'reply/req-1/time')
    expect(answer.payload.toString()).toBe('answer to what time')
    expect(Buffer.from(answer.properties?.correlationData ?? []).toString()).toBe('c-7')
  })

  it('an account without a responder role cannot write on a reply topic (PUBACK 0x87, audited), nor read another client\'s', async () => {
    await scope.start({ config: await repliesConfig() })
    const req = await v5('sensor-1', { clientId: 'req-1', properties: { requestResponseInformation: true } })
    await req.client.subscribeAsync('reply/req-1/#', { qos: 1 })
    // sensor-2 is a valid account, and with unregisteredTopics: allow it could publish anywhere unregistered
    const intruder = await v5('sensor-2', { clientId: 'intruder' })
    expect(await pubackCode(intruder.client, 'reply/req-1/time', 'forged')).toBe(0x87)
    expect(scope.count('publish:not-owner')).toBe(1)
    const refused = await intruder.client.subscribeAsync('reply/req-1/#', { qos: 1 })
      .then(() => null, (err: { packet?: { granted?: number[] } }) => err.packet?.granted)
    expect(refused).toEqual([0x87])
    // a responder's answer still gets through, to the requester only
    const svc = await v5('svc', { clientId: 'svc-1' })
    expect(await pubackCode(svc.client, 'reply/req-1/time', 'real')).toBe(0)
    await next(req, (p) => p.payload.toString() === 'real')
    expect(req.got.map((p) => p.payload.toString())).toEqual(['real'])
    expect(intruder.got).toEqual([])
  })

  it('nobody reads another client\'s reply topic through a wide filter: not an observer on \'#\', not an admin, not a responder', async () => {
    await scope.start({ config: { ...await repliesConfig(), unregisteredTopics: 'allow' } })
    const watchers = await Promise.all([
      v5('observer', { clientId: 'obs' }), v5('admin', { clientId: 'adm' }), v5('svc', { clientId: 'svc-2' }), v5('sensor-2', { clientId: 'req-2' })
    ])
    for (const w of watchers) await w.client.subscribeAsync(['#', 'reply/+/#'], { qos: 1 })
    const req = await v5('sensor-1', { clientId: 'req-1' })
    await req.client.subscribeAsync('reply/+/#', { qos: 1 })
    const svc = await v5('svc', { clientId: 'svc-1' })
    expect(await pubackCode(svc.client, 'reply/req-1/x', 'for req-1')).toBe(0)
    expect(await pubackCode(svc.client, 'reply/req-2/x', 'for req-2')).toBe(0)
    // each watcher's own reply topic: when it is here, the others' would be too
    for (const id of ['obs', 'adm', 'svc-2', 'req-2']) expect(await pubackCode(svc.client, `reply/${id}/marker`, id)).toBe(0)
    for (const w of watchers) await next(w, (p) => p.topic.endsWith('/marker'))
    await next(req, (p) => p.topic === 'reply/req-1/x')
    expect(watchers.map((w) => w.got.map((p) => p.topic).sort())).toEqual([
      ['reply/obs/marker'], ['reply/adm/marker'], ['reply/svc-2/marker'], ['reply/req-2/marker', 'reply/req-2/x']
    ])
    expect(req.got.map((p) => p.topic)).toEqual(['reply/req-1/x'])
    // nobody writes directly on the prefix, or under an id that is not one level
    expect(await pubackCode(svc.client, 'reply', 'x')).toBe(0x87)
    expect(await pubackCode(svc.client, 'reply/req-1', 'x')).toBe(0x87)
  })

  it('mosquitto_pub -V mqttv5 of an account without the responder role is refused on a reply topic', async () => {
    await scope.start({ config: await repliesConfig() })
    const req = await v5('sensor-1', { clientId: 'req-1' })
    await req.client.subscribeAsync('reply/req-1/#', { qos: 1 })
    const r = await mosquittoPub(scope.tb.port, ['-V', 'mqttv5', '-u', 'sensor-2', '-P', PASSWORD, '-t', 'reply/req-1/x', '-m', 'forged', '-q', '1'])
    expect(r.stderr).toMatch(/not authori[sz]ed/i)
    const ok = await mosquittoPub(scope.tb.port, ['-V', 'mqttv5', '-u', 'svc', '-P', PASSWORD, '-t', 'reply/req-1/x', '-m', 'real', '-q', '1'])
    expect(ok.code).toBe(0)
    await next(req, (p) => p.payload.toString() === 'real')
    expect(req.got.map((p) => p.payload.toString())).toEqual(['real'])
  })

  it('a control request naming a Response Topic is answered only under $CONTROL/warden/v1/response', async () => {
    await scope.start({ config: await repliesConfig() })
    const admin = await v5('admin', { clientId: 'adm', properties: { requestResponseInformation: true } })
    await admin.client.subscribeAsync(['$CONTROL/warden/v1/response/#', 'reply/adm/#', '#'], { qos: 1 })
    const request = JSON.stringify({ commands: [{ command: 'listUsers', correlationData: '1' }] })
    await admin.client.publishAsync('$CONTROL/warden/v1', request, { qos: 1, properties: { responseTopic: 'reply/adm/x', correlationData: Buffer.from('9') } })
    const answer = await next(admin, (p) => p.topic.startsWith('$CONTROL/warden/v1/response'))
    expect(answer.topic).toBe('$CONTROL/warden/v1/response')
    await admin.client.publishAsync('$CONTROL/warden/v1', request, { qos: 1, properties: { responseTopic: 'sensors/sensor-1/x' } })
    await next(admin, (p) => p.topic.startsWith('$CONTROL/warden/v1/response') && p !== answer)
    expect(admin.got.every((p) => p.topic.startsWith('$CONTROL/warden/v1/response'))).toBe(true)
  })
})
