// A name is not an identity: deleting an account takes it off every registration it owned in the same
// change (the answer names them), and an account created later under the same name starts with nothing.
import { describe, expect, it } from 'vitest'
import { del, get, post, topicPath } from '../helpers/http.js'
import { connect, publish, subscribe } from '../helpers/mqtt.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()

describe('deleting an account through the HTTP API', () => {
  it('removes it from its registrations and says which; the registrations stay, a co-owner keeps its right', async () => {
    const tb = await scope.start()
    const r = await del(tb, '/api/v1/users/sensor-1')
    expect(r.status).toBe(200)
    expect(r.body).toEqual({ username: 'sensor-1', removedFrom: ['sensors/sensor-1/#', 'sensors/shared/#', 'private/#'] })
    expect((await get(tb, topicPath('sensors/sensor-1/#'))).body).toMatchObject({ filter: 'sensors/sensor-1/#', owners: [] })
    expect((await get(tb, topicPath('sensors/shared/#'))).body).toMatchObject({ owners: ['sensor-2'] })
  })

  it('leaves a name created again with nothing: its publishes to the old account\'s topics are refused and audited', async () => {
    const tb = await scope.start()
    expect((await del(tb, '/api/v1/users/sensor-1')).status).toBe(200)
    expect((await post(tb, '/api/v1/users', { username: 'sensor-1', password: 'new-owner-secret', roles: ['producer'] })).status).toBe(201)
    const obs = await scope.client('observer')
    await subscribe(obs, 'sensors/#', 1)
    const again = await connect(tb.url, 'sensor-1', { password: 'new-owner-secret' })
    try {
      await publish(again, 'sensors/sensor-1/temp', 'inherited?', { qos: 1 })
      await publish(again, 'sensors/shared/temp', 'inherited?', { qos: 1 })
    } finally {
      await again.end()
    }
    const owner = await scope.client('sensor-2')
    await publish(owner, 'sensors/shared/temp', 'marker', { qos: 1 })
    await obs.waitFor((m) => m.payload === 'marker')
    expect(obs.messages.map((m) => m.payload)).toEqual(['marker'])
    expect(scope.events.filter((e) => e.kind === 'publish' && e.reason === 'not-owner' && e.username === 'sensor-1').map((e) => e.topic))
      .toEqual(['sensors/sensor-1/temp', 'sensors/shared/temp'])
  })
})
