// The control plane over MQTT ($CONTROL/warden/v1): admin-only requests, answers on the response topic,
// never forwarded to anyone.
import { beforeEach, describe, expect, it } from 'vitest'
import { PASSWORD, type TestBroker } from '../helpers/broker.js'
import { connackCode, publish, subscribe, type TestClient } from '../helpers/mqtt.js'
import { useScope } from '../helpers/scope.js'

const REQUEST = '$CONTROL/warden/v1'
const RESPONSE = '$CONTROL/warden/v1/response'

const scope = useScope()
let tb: TestBroker
const client = (username: string): Promise<TestClient> => scope.client(username)

/** Publishes a request and resolves with the next answer on `topic`. */
async function ask (
  admin: TestClient, body: unknown, topic = RESPONSE
): Promise<{ responses: Array<Record<string, any>> & Record<number, Record<string, any>> }> {
  const seen = admin.messages.length
  await publish(admin, REQUEST, typeof body === 'string' ? body : JSON.stringify(body), { qos: 1 })
  const m = await admin.waitFor((x) => x.topic === topic && admin.messages.indexOf(x) >= seen, 'control response')
  return JSON.parse(m.payload)
}

beforeEach(async () => { tb = await scope.start() })

describe('$CONTROL/warden/v1', () => {
  it('runs an admin\'s commands in order and answers each, in Mosquitto\'s shape', async () => {
    const admin = await client('admin')
    expect(await subscribe(admin, RESPONSE, 1)).toEqual([1])
    const r = await ask(admin, {
      commands: [
        { command: 'createUser', username: 'mqtt-made', password: 'mqtt-made-secret', roles: ['producer'], correlationData: 'c1' },
        { command: 'createTopic', filter: 'made/#', owners: ['mqtt-made'] },
        { command: 'createUser', username: 'mqtt-made', password: 'mqtt-made-secret', roles: [] },
        { command: 'modifyUser', username: 'mqtt-made', roles: ['pilot'] },
        { command: 'listTopics' },
        { command: 'frobnicate' },
        { command: 'createRole', name: 'pilot', subscribe: ['made/#'] },
        { command: 'modifyUser', username: 'mqtt-made', roles: ['pilot'] }
      ]
    })
    expect(r.responses).toHaveLength(8)
    expect(r.responses[0]).toEqual({
      command: 'createUser', correlationData: 'c1', data: { username: 'mqtt-made', roles: ['producer'], loopbackOnly: false, connections: 0, owns: [] }
    })
    expect(r.responses[1]).toMatchObject({ command: 'createTopic', data: { filter: 'made/#', owners: ['mqtt-made'] } })
    expect(r.responses[2]).toMatchObject({ command: 'createUser', code: 'WARDEN_ERR_API_CONFLICT', error: expect.stringMatching(/exists already/) })
    expect(r.responses[3]).toMatchObject({ command: 'modifyUser', code: 'WARDEN_ERR_UNKNOWN_ROLE', field: 'roles[0]' })
    expect(r.responses[4]!.data.topics.map((t: { filter: string }) => t.filter)).toContain('made/#')
    expect(r.responses[5]).toMatchObject({ command: 'frobnicate', code: 'WARDEN_ERR_API_BAD_REQUEST', field: 'command' })
    // roles are defined over MQTT too, and can then be given
    expect(r.responses[6]).toEqual({ command: 'createRole', data: { name: 'pilot', subscribe: ['made/#'], builtin: false, users: 0 } })
    expect(r.responses[7]).toMatchObject({ command: 'modifyUser', data: { roles: ['pilot'] } })
    // the changes are real: the new account publishes on its topic
    expect(await connackCode(tb.url, { username: 'mqtt-made', password: 'mqtt-made-secret' })).toBe(0)
  })

  it('answers introspection commands', async () => {
    const admin = await client('admin')
    await subscribe(admin, RESPONSE, 1)
    const r = await ask(admin, {
      commands: [
        { command: 'getStatus' }, { command: 'listClients' }, { command: 'listUsers' }, { command: 'listDenials' },
        { command: 'getUser', username: 'nobody' }
      ]
    })
    expect(r.responses[0]!.data).toMatchObject({ brokerId: tb.broker.id, clients: 1 })
    expect(r.responses[1]!.data.clients[0]).toMatchObject({ username: 'admin', subscriptions: [{ filter: RESPONSE, qos: 1 }] })
    expect(r.responses[2]!.data.users).toHaveLength(5)
    expect(r.responses[3]!.data).toHaveProperty('byUser')
    expect(r.responses[4]).toMatchObject({ code: 'WARDEN_ERR_API_NOT_FOUND' })
    expect(JSON.stringify(r)).not.toMatch(/scrypt/)
  })

  it('answers on a response subtopic the request names, and refuses any other', async () => {
    const admin = await client('admin')
    await subscribe(admin, `${RESPONSE}/#`, 1)
    const r = await ask(admin, { responseTopic: `${RESPONSE}/tool-7`, commands: [{ command: 'getStatus' }] }, `${RESPONSE}/tool-7`)
    expect(r.responses[0]!.command).toBe('getStatus')
    const bad = await ask(admin, { responseTopic: 'sensors/sensor-1/x', commands: [{ command: 'getStatus' }] })
    expect(bad.responses[0]).toMatchObject({ code: 'WARDEN_ERR_API_BAD_REQUEST', field: 'responseTopic' })
  })

  it('reports a request that is not JSON or has no commands', async () => {
    const admin = await client('admin')
    await subscribe(admin, RESPONSE, 1)
    expect((await ask(admin, 'nope')).responses[0]).toMatchObject({ code: 'WARDEN_ERR_API_BAD_REQUEST', field: '(payload)' })
    expect((await ask(admin, { commands: [] })).responses[0]).toMatchObject({ field: 'commands' })
    expect((await ask(admin, { commands: ['getStatus'] })).responses[0]).toMatchObject({ field: '(body)' })
  })

  it('refuses non-admins: their requests are denied, they cannot read the answers', async () => {
    const admin = await client('admin')
    await subscribe(admin, [RESPONSE, '$SYS/warden/audit/#'], 1)
    const observer = await client('observer')
    expect(await subscribe(observer, [RESPONSE, '$CONTROL/#'], 1)).toEqual([128, 128])
    await publish(observer, REQUEST, JSON.stringify({ commands: [{ command: 'deleteUser', username: 'dashboard' }] }), { qos: 1 })
    const audit = await admin.waitFor((m) => m.topic === '$SYS/warden/audit/publish')
    expect(JSON.parse(audit.payload)).toMatchObject({ reason: 'reserved-topic', username: 'observer', topic: REQUEST })
    // the admin's own request is answered; the observer's never was
    await ask(admin, { commands: [{ command: 'getUser', username: 'dashboard' }] })
    expect(admin.messages.filter((m) => m.topic === RESPONSE)).toHaveLength(1)
    expect(tb.broker.registry.user('dashboard')).toBeDefined()
    expect(observer.client.connected).toBe(true)
  })

  it('never forwards a request, and nobody may publish on the response topic', async () => {
    const admin = await client('admin')
    expect(await subscribe(admin, '$CONTROL/#', 1)).toEqual([1])
    const other = await client('admin')
    await subscribe(other, '$CONTROL/#', 1)
    await publish(other, RESPONSE, '{"responses":[{"forged":true}]}', { qos: 1 })
    await ask(admin, { commands: [{ command: 'getStatus' }] })
    expect(admin.messages.map((m) => m.topic)).toEqual([RESPONSE])
    expect(admin.messages[0]?.payload).not.toContain('forged')
    await other.waitFor((m) => m.topic === RESPONSE)
    expect(other.messages.map((m) => m.topic)).toEqual([RESPONSE])
  })
})

describe('with unregisteredTopics: allow', () => {
  it('still refuses $CONTROL publishes of non-admins and keeps $CONTROL unreadable to them', async () => {
    tb = await scope.start({ config: { unregisteredTopics: 'allow', roles: { consumer: { subscribe: ['#', '$CONTROL/#'] } } } })
    const admin = await client('admin')
    await subscribe(admin, RESPONSE, 1)
    const consumer = await scope.client('dashboard', { password: PASSWORD })
    expect(await subscribe(consumer, '$CONTROL/#', 1)).toEqual([128])
    await publish(consumer, RESPONSE, 'forged', { qos: 1 })
    await publish(consumer, REQUEST, JSON.stringify({ commands: [{ command: 'getStatus' }] }), { qos: 1 })
    await ask(admin, { commands: [{ command: 'getStatus' }] })
    expect(admin.messages.filter((m) => m.topic === RESPONSE)).toHaveLength(1)
    expect(tb.broker.audit.counts.get('publish:reserved-topic')).toBe(2)
  })
})
