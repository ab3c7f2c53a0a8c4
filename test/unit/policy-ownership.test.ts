// OwnershipPolicy.decide: who may publish where, for every kind of registration and client.
import { describe, expect, it } from 'vitest'
import type { Decision } from '../../apps/broker/src/policy/decision.js'
import { createIdentity, type Identity } from '../../apps/broker/src/policy/identity.js'
import { OwnershipPolicy, type Registration, type UnregisteredPolicy } from '../../apps/broker/src/policy/ownership.js'

const REGISTRATIONS: Registration[] = [
  { filter: 'devices/{username}/#', owners: ['{username}'] },
  // more specific registrations that do not name the device override the broader one that does
  { filter: 'devices/{username}/firmware', owners: ['ota'] },
  { filter: 'devices/device-01/config', owners: ['ops'] },
  // loses to the template at level 1 for every non-empty device level
  { filter: 'devices/+/alerts', owners: ['alarm'] },
  { filter: 'fleet/dev-{username}/#', owners: ['{username}'] },
  { filter: 'users/{username}/{clientid}/#', owners: ['{username}'] },
  { filter: 'team/{username}/#', owners: ['{username}', 'lead'] },
  { filter: 'shared/#', owners: ['alice', 'bob'] },
  { filter: 'shared/alice-only', owners: ['alice'] },
  { filter: 'broadcast/+', owners: ['ops'] },
  { filter: 'a//b', owners: ['alice'] },
  { filter: '/lead', owners: ['alice'] },
  { filter: 'trail/', owners: ['alice'] },
  { filter: 'capteurs/{username}/température', owners: ['{username}'] },
  { filter: '$app/#', owners: ['alice'] },
  { filter: 'unicode/#', owners: ['josé', '🦊'] }
]

const who = (username: string | undefined, clientId?: string): Identity =>
  createIdentity(username, clientId ?? (username === undefined ? 'anon-1' : `c-${username}`), [])
const ANON = who(undefined)

// [identity, topic, expected: 'allow' or the deny reason, deciding filter]
type Row = [Identity, string, 'allow' | 'not-owner' | 'unregistered' | 'reserved-topic', string?]
const T = 'devices/{username}/#'
const ROWS: Row[] = [
  // template ownership: devices/{username}/# stands for devices/<each user>/#
  [who('device-01'), 'devices/device-01/telemetry', 'allow'],
  [who('device-01'), 'devices/device-01', 'allow'],
  [who('device-01'), 'devices/device-01/a/b/c', 'allow'],
  [who('device-01'), 'devices/device-01/', 'allow'],
  [who('device-02'), 'devices/device-01/telemetry', 'not-owner', T],
  [who('device-01'), 'devices/device-02', 'not-owner', T],
  [who('device-01'), 'devices/DEVICE-01/x', 'not-owner', T],
  // more specific registrations win, even when they do not name the client
  [who('device-01'), 'devices/device-01/firmware', 'not-owner', 'devices/{username}/firmware'],
  [who('ota'), 'devices/device-01/firmware', 'allow'],
  [who('ota'), 'devices/device-01/firmware/x', 'not-owner', T],
  [who('ota'), 'devices/device-01/telemetry', 'not-owner', T],
  [who('device-01'), 'devices/device-01/config', 'not-owner', 'devices/device-01/config'],
  [who('ops'), 'devices/device-01/config', 'allow'],
  [who('device-02'), 'devices/device-02/config', 'allow'],
  [who('ops'), 'devices/device-02/config', 'not-owner', T],
  [who('device-01'), 'devices/device-01/alerts', 'allow'],
  [who('alarm'), 'devices/device-01/alerts', 'not-owner', T],
  [who('alarm'), 'devices//alerts', 'allow'],
  [who('device-01'), 'devices//alerts', 'not-owner', 'devices/+/alerts'],
  // the template never matches an empty level; nothing else covers these
  [who('device-01'), 'devices//x', 'unregistered'],
  [who('device-01'), 'devices/', 'unregistered'],
  [who('device-01'), 'devices', 'unregistered'],
  // partial-level templates
  [who('alice'), 'fleet/dev-alice/x', 'allow'],
  [who('alice'), 'fleet/dev-alice', 'allow'],
  [who('bob'), 'fleet/dev-alice/x', 'not-owner', 'fleet/dev-{username}/#'],
  [who('dev-alice'), 'fleet/dev-alice/x', 'not-owner', 'fleet/dev-{username}/#'],
  [who('alice'), 'fleet/alice/x', 'unregistered'],
  [who('alice'), 'fleet/dev-/x', 'unregistered'],
  // {clientid} is checked too
  [who('alice', 'phone'), 'users/alice/phone/x', 'allow'],
  [who('alice', 'laptop'), 'users/alice/phone/x', 'not-owner', 'users/{username}/{clientid}/#'],
  [who('bob', 'phone'), 'users/alice/phone', 'not-owner', 'users/{username}/{clientid}/#'],
  // literal owners next to '{username}'
  [who('alice'), 'team/alice/x', 'allow'],
  [who('lead'), 'team/alice/x', 'allow'],
  [who('bob'), 'team/alice/x', 'not-owner', 'team/{username}/#'],
  // literal registrations
  [who('alice'), 'shared/x', 'allow'],
  [who('bob'), 'shared/x/y', 'allow'],
  [who('alice'), 'shared', 'allow'],
  [who('carol'), 'shared/x', 'not-owner', 'shared/#'],
  [who('alice'), 'shared/alice-only', 'allow'],
  [who('bob'), 'shared/alice-only', 'not-owner', 'shared/alice-only'],
  [who('ops'), 'broadcast/x', 'allow'],
  [who('ops'), 'broadcast/', 'allow'],
  [who('ops'), 'broadcast/x/y', 'unregistered'],
  [who('ops'), 'broadcast', 'unregistered'],
  [who('alice'), 'nowhere/x', 'unregistered'],
  // empty levels are levels
  [who('alice'), 'a//b', 'allow'],
  [who('bob'), 'a//b', 'not-owner', 'a//b'],
  [who('alice'), 'a/b', 'unregistered'],
  [who('alice'), '/lead', 'allow'],
  [who('alice'), 'lead', 'unregistered'],
  [who('alice'), 'trail/', 'allow'],
  [who('alice'), 'trail', 'unregistered'],
  // unicode topics and usernames, compared code point for code point (no normalization)
  [who('josé'), 'capteurs/josé/température', 'allow'],
  [who('alice'), 'capteurs/josé/température', 'not-owner', 'capteurs/{username}/température'],
  [who('josé'), 'capteurs/jose\u0301/température', 'not-owner', 'capteurs/{username}/température'],
  [who('🦊'), 'capteurs/🦊/température', 'allow'],
  [who('🦊'), 'devices/🦊/x', 'allow'],
  [who('josé'), 'unicode/x', 'allow'],
  [who('jose\u0301'), 'unicode/x', 'not-owner', 'unicode/#'],
  // '$' topics: $SYS is the broker's; other '$' topics can be registered
  [who('alice'), '$SYS/x', 'reserved-topic'],
  [who('alice'), '$SYS', 'reserved-topic'],
  [who('admin'), '$SYS/broker/uptime', 'reserved-topic'],
  [who('alice'), '$app/x', 'allow'],
  [who('bob'), '$app/x', 'not-owner', '$app/#'],
  [who('alice'), '$other/x', 'unregistered'],
  [who('alice'), '$SYSTEM/x', 'unregistered'],
  // the broker's own topics: consumer-group links, dropped publishes, control requests and answers
  [who('alice'), '$WARDEN/share/deliver/warden-1', 'reserved-topic'],
  [who('alice'), '$WARDEN/share/sync', 'reserved-topic'],
  [who('alice'), '$WARDEN/void', 'reserved-topic'],
  [who('alice'), '$WARDEN', 'reserved-topic'],
  [who('admin'), '$CONTROL/warden/v1/response', 'reserved-topic'],
  [who('admin'), '$CONTROL', 'reserved-topic'],
  [who('alice'), '$SYS/warden-1/new/clients', 'reserved-topic'],
  [who('alice'), '$WARDENX/x', 'unregistered'],
  // usernames that would inject MQTT syntax through templates own nothing they are not literally given
  [who('a/b'), 'devices/a/b/x', 'not-owner', T],
  [who('a/b'), 'devices/a/b', 'not-owner', T],
  [who('+'), 'devices/x/y', 'not-owner', T],
  [who('#'), 'devices/x/y', 'not-owner', T],
  [who('{username}'), 'devices/{username}/x', 'not-owner', T],
  [who('{clientid}', 'x'), 'devices/x/y', 'not-owner', T],
  [who('x\u0000'), 'devices/x\u0000/y', 'not-owner', T],
  [who(''), 'devices//x', 'unregistered'],
  [who(''), 'shared/x', 'not-owner', 'shared/#'],
  [who('.*'), 'devices/.*/t', 'allow'],
  [who('.*'), 'devices/alice/t', 'not-owner', T],
  [who('$&'), 'devices/$&/t', 'allow'],
  [who("x' OR '1'='1"), "devices/x' OR '1'='1/t", 'allow'],
  [who("x' OR '1'='1"), 'devices/alice/t', 'not-owner', T],
  // anonymous clients never own, not even through {clientid}
  [ANON, 'devices/anon-1/x', 'not-owner', T],
  [who(undefined, 'alice'), 'devices/alice/x', 'not-owner', T],
  [who(undefined, 'phone'), 'users/x/phone/y', 'not-owner', 'users/{username}/{clientid}/#'],
  [ANON, 'shared/x', 'not-owner', 'shared/#'],
  [ANON, 'nowhere', 'unregistered'],
  [ANON, '$SYS/x', 'reserved-topic']
]

function expected (row: Row, policy: UnregisteredPolicy): Decision {
  const [, , outcome, filter] = row
  if (outcome === 'allow' || (outcome === 'unregistered' && policy === 'allow')) return { allowed: true }
  return filter === undefined ? { allowed: false, reason: outcome } : { allowed: false, reason: outcome, filter }
}

describe.each<UnregisteredPolicy>(['deny', 'allow'])('unregisteredTopics: %s', (unregistered) => {
  const policy = new OwnershipPolicy(REGISTRATIONS, unregistered)
  it.each(ROWS)('%o → %j', (identity, topic, ...rest) => {
    expect(policy.decide(identity, topic)).toEqual(expected([identity, topic, ...rest], unregistered))
  })
})

describe('no hole with unregisteredTopics: allow', () => {
  const policy = new OwnershipPolicy([{ filter: 'devices/{username}/#', owners: ['{username}'] }], 'allow')
  it.each<[Identity, string]>([
    [who('device-01'), 'devices/device-02/x'],
    [who('device-01'), 'devices/device-02'],
    [who('device-01'), 'devices/device-02/'],
    [who('device-01'), 'devices/device-01x/y'],
    [who('device-01'), 'devices/device-0/y'],
    [who('device-01', 'device-02'), 'devices/device-02/x'],
    [ANON, 'devices/device-02/x'],
    [who(undefined, 'device-02'), 'devices/device-02/x'],
    [who('device-02/x'), 'devices/device-02/x'],
    [who('+'), 'devices/device-02/x']
  ])('%o may not publish to %j', (identity, topic) => {
    expect(policy.decide(identity, topic)).toEqual({ allowed: false, reason: 'not-owner', filter: 'devices/{username}/#' })
  })
  it.each(['nowhere', 'devices', 'devices/', 'devices//x', 'a/devices/device-02'])('but unregistered %j is open to all', (topic) => {
    expect(policy.decide(who('device-01'), topic)).toEqual({ allowed: true })
    expect(policy.decide(ANON, topic)).toEqual({ allowed: true })
  })
  it.each(['$SYS/x', '$WARDEN/share/deliver/warden-1', '$WARDEN/void', '$CONTROL/warden/v1/response/x'])('and the broker\'s own %j stays reserved', (topic) => {
    expect(policy.decide(who('admin'), topic)).toEqual({ allowed: false, reason: 'reserved-topic' })
  })
})

describe('registrations change at run time', () => {
  it('register / unregister / list / get / size / version', () => {
    const policy = new OwnershipPolicy([{ filter: 'a/#', owners: ['alice'] }])
    const v0 = policy.version
    expect(policy.size).toBe(1)
    expect(policy.decide(who('bob'), 'a/b')).toEqual({ allowed: false, reason: 'not-owner', filter: 'a/#' })

    policy.register({ filter: 'a/b', owners: ['bob'] })
    expect(policy.version).toBeGreaterThan(v0)
    expect(policy.size).toBe(2)
    expect(policy.get('a/b')).toEqual({ filter: 'a/b', owners: ['bob'] })
    expect(policy.decide(who('bob'), 'a/b')).toEqual({ allowed: true })
    expect(policy.decide(who('alice'), 'a/b')).toEqual({ allowed: false, reason: 'not-owner', filter: 'a/b' })

    policy.register({ filter: 'a/b', owners: ['carol'] })
    expect(policy.size).toBe(2)
    expect(policy.decide(who('bob'), 'a/b')).toEqual({ allowed: false, reason: 'not-owner', filter: 'a/b' })

    const v1 = policy.version
    expect(policy.unregister('a/b')).toBe(true)
    expect(policy.version).toBeGreaterThan(v1)
    expect(policy.decide(who('alice'), 'a/b')).toEqual({ allowed: true })
    const v2 = policy.version
    expect(policy.unregister('a/b')).toBe(false)
    expect(policy.version).toBe(v2)
    expect(policy.list()).toEqual([{ filter: 'a/#', owners: ['alice'] }])
    expect(policy.unregister('a/#')).toBe(true)
    expect(policy.decide(who('alice'), 'a/b')).toEqual({ allowed: false, reason: 'unregistered' })
  })

  it('copies and freezes what it stores', () => {
    const owners = ['alice']
    const policy = new OwnershipPolicy([{ filter: 'x', owners }])
    owners.push('mallory')
    expect(policy.decide(who('mallory'), 'x')).toMatchObject({ allowed: false })
    expect(Object.isFrozen(policy.get('x'))).toBe(true)
    expect(Object.isFrozen(policy.get('x')?.owners)).toBe(true)
  })

  it('defaults to unregisteredTopics deny', () => {
    expect(new OwnershipPolicy([]).decide(who('alice'), 'x')).toEqual({ allowed: false, reason: 'unregistered' })
  })
})

describe('scale (not timed)', () => {
  it('100k registrations decide a sample correctly', () => {
    const regs: Registration[] = []
    for (let i = 0; i < 100_000; i++) regs.push({ filter: `fleet/site-${i % 100}/dev-${i}/#`, owners: [`dev-${i}`] })
    for (let s = 0; s < 100; s++) regs.push({ filter: `fleet/site-${s}/+/status`, owners: [`monitor-${s}`] })
    regs.push({ filter: 'fleet/{username}/inbox', owners: ['{username}'] })
    const policy = new OwnershipPolicy(regs)
    expect(policy.size).toBe(100_101)
    for (let i = 0; i < 100_000; i += 997) {
      const s = i % 100
      const base = `fleet/site-${s}/dev-${i}`
      const deny = (filter: string): Decision => ({ allowed: false, reason: 'not-owner', filter })
      expect(policy.decide(who(`dev-${i}`), `${base}/telemetry`)).toEqual({ allowed: true })
      expect(policy.decide(who(`dev-${i}`), base)).toEqual({ allowed: true })
      expect(policy.decide(who(`dev-${i + 1}`), `${base}/telemetry`)).toEqual(deny(`${base}/#`))
      // the device's own subtree is more specific than the site's '+' registration
      expect(policy.decide(who(`dev-${i}`), `${base}/status`)).toEqual({ allowed: true })
      expect(policy.decide(who(`monitor-${s}`), `${base}/status`)).toEqual(deny(`${base}/#`))
      expect(policy.decide(who(`monitor-${s}`), `fleet/site-${s}/unknown/status`)).toEqual({ allowed: true })
      expect(policy.decide(who(`dev-${i}`), `fleet/site-${s}/unknown/status`)).toEqual(deny(`fleet/site-${s}/+/status`))
      expect(policy.decide(who(`dev-${i}`), `fleet/dev-${i}/inbox`)).toEqual({ allowed: true })
      expect(policy.decide(who(`dev-${i}`), `fleet/site-${(s + 1) % 100}/dev-${i}/x`)).toEqual({ allowed: false, reason: 'unregistered' })
    }
  })
})
