// The reply namespace (config `replies`): who writes and who reads under `<prefix>/<clientId>/`, as the
// ownership and read rules apply it; tables over ids, prefixes, wildcards, templates and wide grants.
import { describe, expect, it } from 'vitest'
import { createIdentity } from '../../apps/broker/src/policy/identity.js'
import { OwnershipPolicy } from '../../apps/broker/src/policy/ownership.js'
import { createReader } from '../../apps/broker/src/policy/read-rules.js'
import { replyOwnerOf, replyTopicOf, type ReplyNamespace } from '../../apps/broker/src/policy/reply-topics.js'

const NS: ReplyNamespace = { prefix: 'reply', responders: ['service'] }
const DEEP: ReplyNamespace = { prefix: 'app/replies', responders: ['service'] }
const ROLES = { service: { subscribe: ['jobs/#'] }, observer: { subscribe: ['#'] }, reader: { subscribe: ['reply/#', 'reply/+/x'] }, admin: { subscribe: [] } }
const svc = createIdentity('svc', 'svc-1', ['service'])
const dev = createIdentity('dev', 'dev-1', [])
const obs = createIdentity('obs', 'obs-1', ['observer'])
const admin = createIdentity('root', 'root-1', ['admin'])
const reader = createIdentity('rd', 'rd-1', ['reader'])

describe('reply topics', () => {
  it.each([
    ['dev-1', 'reply/dev-1/'], ['a b', 'reply/a b/'], ['é', 'reply/é/'],
    ['a/b', undefined], ['+', undefined], ['#', undefined], ['', undefined], ['x\u0000', undefined]
  ])('client id %j → Response Information %j', (id, expected) => {
    expect(replyTopicOf(NS, id)).toBe(expected)
  })

  it.each([
    ['reply/dev-1/x', 'dev-1'], ['reply/dev-1', 'dev-1'], ['reply/dev-1/a/b', 'dev-1'], ['reply', ''], ['reply/', ''],
    ['replyx/dev-1/x', undefined], ['rep', undefined], ['x/reply/dev-1/y', undefined], ['$reply/dev-1/x', undefined]
  ])('topic %j lies under the reply topic of %j', (topic, owner) => {
    expect(replyOwnerOf(NS, topic)).toBe(owner)
  })

  const policy = new OwnershipPolicy([{ filter: 'reply/#', owners: ['dev'] }, { filter: 'jobs/#', owners: ['dev'] }], 'allow', NS)
  it.each([
    [svc, 'reply/dev-1/x', true], [svc, 'reply/anyone/a/b', true],
    // the prefix itself, a client id level alone, an empty id: nobody's reply topic
    [svc, 'reply', false], [svc, 'reply/dev-1', false], [svc, 'reply//x', false],
    // not a responder: a registration of the namespace, unregisteredTopics: allow, or its own reply topic do not help
    [dev, 'reply/dev-1/x', false], [dev, 'reply/other/x', false], [admin, 'reply/dev-1/x', false],
    [dev, 'jobs/1', true], [dev, 'elsewhere', true]
  ] as const)('%o publishing on %j: %s', (who, topic, allowed) => {
    expect(policy.decide(who, topic).allowed).toBe(allowed)
  })

  it.each([
    [dev, 'reply/dev-1/x', true], [dev, 'reply/dev-1', true], [dev, 'reply/other/x', false],
    [obs, 'reply/dev-1/x', false], [obs, 'elsewhere', true], [admin, 'reply/dev-1/x', false], [reader, 'reply/dev-1/x', false],
    [reader, 'reply/rd-1/x', true], [svc, 'reply/svc-1/x', true], [svc, 'jobs/1', true]
  ] as const)('%o reading %j: %s', (who, topic, readable) => {
    expect(createReader(who, ROLES, NS).canRead(topic)).toBe(readable)
  })

  it.each([
    [dev, 'reply/dev-1/#', true], [dev, 'reply/+/#', true], [dev, 'reply/other/#', false], [dev, 'reply', false], [dev, 'reply/#', true],
    [obs, 'reply/dev-1/#', false], [obs, '#', true], [reader, 'reply/dev-1/x', false], [admin, 'reply/dev-1/#', false],
    [dev, 'jobs/#', false]
  ] as const)('%o subscribing to %j: %s', (who, filter, granted) => {
    expect(createReader(who, ROLES, NS).canSubscribe(filter)).toBe(granted)
  })

  it('a prefix of several levels', () => {
    expect(replyTopicOf(DEEP, 'dev-1')).toBe('app/replies/dev-1/')
    expect(replyOwnerOf(DEEP, 'app/replies/dev-1/x')).toBe('dev-1')
    expect(replyOwnerOf(DEEP, 'app/repliesx/dev-1/x')).toBeUndefined()
    expect(createReader(obs, ROLES, DEEP).canRead('app/replies/dev-1/x')).toBe(false)
    expect(createReader(dev, ROLES, DEEP).canRead('app/replies/dev-1/x')).toBe(true)
  })

  it('without a namespace the grants alone decide', () => {
    expect(createReader(obs, ROLES).canRead('reply/dev-1/x')).toBe(true)
    expect(new OwnershipPolicy([], 'allow').decide(dev, 'reply/other/x').allowed).toBe(true)
  })
})
