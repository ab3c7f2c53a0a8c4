// Consumer groups in the control plane: GET /api/v1/groups (and the listGroups control command) shows the
// groups, their members and what each member was handed.
import { beforeEach, expect, it } from 'vitest'
import { get, request } from '../helpers/http.js'
import { waitUntil } from '../helpers/ports.js'
import { publish, subscribe, type TestClient } from '../helpers/mqtt.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
beforeEach(async () => { await scope.start() })

interface GroupBody {
  groups: Array<{ group: string, filter: string, delivered: number, members: Array<{ clientId: string, delivered: number, connected: boolean }> }>
}

it('lists groups with their members and per-member delivery counts, for admins and observers only', async () => {
  const tb = scope.tb
  const members: TestClient[] = []
  for (const id of ['worker-a', 'worker-b']) {
    const c = await scope.client('dashboard', { clientId: id })
    members.push(c)
    expect(await subscribe(c, '$share/workers/sensors/#', 1)).toEqual([1])
  }
  const pub = await scope.client('sensor-1')
  for (let i = 0; i < 10; i++) await publish(pub, 'sensors/sensor-1/n', String(i), { qos: 1 })
  await waitUntil(() => members.reduce((n, c) => n + c.messages.length, 0) === 10 ? true : undefined, 'the group to receive 10 messages')

  const r = await get(tb, '/api/v1/groups')
  expect(r.status).toBe(200)
  const body = r.body as GroupBody
  expect(body.groups).toHaveLength(1)
  const g = body.groups[0]
  expect(g).toMatchObject({ group: 'workers', filter: 'sensors/#', delivered: 10 })
  expect(g?.members.map((m) => m.clientId).sort()).toEqual(['worker-a', 'worker-b'])
  expect(g?.members.every((m) => m.connected && m.delivered === 5)).toBe(true)

  expect((await get(tb, '/api/v1/groups', { as: 'observer' })).status).toBe(200)
  expect((await get(tb, '/api/v1/groups', { as: 'dashboard' })).status).toBe(403)
  expect((await request(tb, 'GET', '/api/v1/groups', { as: null })).status).toBe(401)
})
