// Flow control's holds and the reply namespace (config `replies`): a publish on a client's reply topic is
// received by that client alone, so only that client's announcement holds it, whatever the others reach.
import { afterEach, expect, it } from 'vitest'
import { Holds } from '../../apps/broker/src/flow/holds.js'
import { replyOwnerOf } from '../../apps/broker/src/policy/reply-topics.js'

const ns = { prefix: 'reply', responders: ['service'] }
const opened: Holds[] = []
afterEach(() => { for (const h of opened.splice(0)) h.close() })

it.each([
  // announcing client, its reach, topic published, held
  ['obs', [['#']], 'reply/req-9/answer', false],
  ['obs', [['reply/#']], 'reply/req-9/answer', false],
  ['obs', [['#']], 'reply/obs/answer', true],
  ['obs', [['#']], 'sensors/a', true],
  ['req-9', [['reply/req-9/#']], 'reply/req-9/answer', true],
  ['req-9', [['#', 'reply/req-9/#']], 'reply/req-9/a/b', true],
  ['req-9', [['reply/+/#', 'reply/req-9/#']], 'reply/other/a', false],
  ['obs', [['#']], 'reply', false] // the prefix itself: no one reads (nor writes) there
] as const)('%s reaching %j holds %s: %s', (clientId, reach, topic, held) => {
  const h = new Holds(1000, (t) => replyOwnerOf(ns, t))
  opened.push(h)
  h.set(`broker-a\u0000${clientId}`, reach, 60_000)
  expect(h.blocks(topic)).toBe(held)
})

it('without a reply namespace the reach alone decides', () => {
  const h = new Holds(1000)
  opened.push(h)
  h.set('broker-a\u0000obs', [['#']], 60_000)
  expect(h.blocks('reply/req-9/answer')).toBe(true)
})
