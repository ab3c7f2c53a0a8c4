// The refusals' answer merges every worker's counts (alone, its own through the same merge): a username that
// names a property of every JavaScript object must be counted as any other, not vanish into the prototype.
import { expect, it } from 'vitest'
import { get } from '../helpers/http.js'
import { connackCode } from '../helpers/mqtt.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()

it('counts the refusals of a username such as __proto__ or constructor under that name', async () => {
  const b = await scope.start()
  for (const username of ['__proto__', 'constructor', 'toString']) {
    expect(await connackCode(b.url, { username, password: 'guess' })).toBe(4)
  }
  const { status, body } = await get(b, '/api/v1/denials', { as: 'observer' })
  expect(status).toBe(200)
  expect(body.total).toBe(3)
  for (const username of ['__proto__', 'constructor', 'toString']) {
    expect(Object.getOwnPropertyDescriptor(body.byUser, username)?.value, username).toBe(1)
  }
})
