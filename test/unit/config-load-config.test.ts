// Broker configuration: defaults, environment overrides, and errors that name the bad key.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hashPassword } from '../../apps/broker/src/auth/password.js'
import { loadConfig, parseConfig } from '../../apps/broker/src/config/load-config.js'
import { at, readmeDefaults } from '../helpers/readme-defaults.js'

const HASH = await hashPassword('secret', { N: 1024, r: 8, p: 1 })
const [, , , , SALT] = HASH.split('$')
const DOCUMENTED = readmeDefaults()

function errorOf (fn: () => unknown): { code?: string, message: string } {
  try { fn() } catch (err) { return err as { code?: string, message: string } }
  throw new Error('expected an error')
}

const user = (username: string, extra: object = {}): object => ({ username, password: 'pw', roles: [], ...extra })

describe('parseConfig: every error names the key', () => {
  it.each<[string, unknown, string]>([
    ['unknown top-level key', { mqttt: {} }, 'mqttt: is not a known setting'],
    ['unknown nested key', { mqtt: { prot: 1 } }, 'mqtt.prot: is not a known setting'],
    ['unknown role key', { roles: { x: { publish: [] } } }, 'roles.x.publish: is not a known setting'],
    ['unknown user key', { users: [user('a', { pasword: 'x' })] }, 'users[0].pasword: is not a known setting'],
    ['root not a mapping', [], '(root): must be object'],
    ['bad enum unregisteredTopics', { unregisteredTopics: 'open' }, 'unregisteredTopics: must be one of "deny", "allow"'],
    ['bad enum persistence', { persistence: 'disk' }, 'persistence: must be one of "level", "memory"'],
    ['bad enum deniedPublish', { deniedPublish: 'kick' }, 'deniedPublish: must be one of "drop", "disconnect"'],
    ['bad enum log.level', { log: { level: 'loud' } }, 'log.level: must be one of'],
    ['port too large', { mqtt: { port: 70000 } }, 'mqtt.port: must be <= 65535'],
    ['port not a number', { http: { port: 'abc' } }, 'http.port: must be integer'],
    ['port negative', { http: { port: -1 } }, 'http.port: must be >= 0'],
    ['limits out of range', { limits: { maxTopicLevels: 0 } }, 'limits.maxTopicLevels: must be >= 1'],
    ['bad brokerId', { brokerId: 'a b' }, 'brokerId: must match pattern'],
    ['anonymous true', { anonymous: true }, 'anonymous: must'],
    ['anonymous undefined role', { anonymous: 'ghost' }, 'anonymous: role "ghost" is not defined under roles'],
    ['duplicate username', { users: [user('alice'), user('alice')] }, 'users[1].username: "alice" is listed twice'],
    ['undefined role', { users: [user('a', { roles: ['admin'] }), user('b', { roles: ['x'] })] }, 'users[1].roles[0]: role "x" is not defined under roles'],
    ['undefined second role', { roles: { x: {} }, users: [user('a', { roles: ['x', 'y'] })] }, 'users[0].roles[1]: role "y" is not defined under roles'],
    ['missing roles', { users: [{ username: 'a', password: 'pw' }] }, 'users[0].roles: is required'],
    ['username with /', { users: [user('a/b')] }, 'users[0].username: must match pattern'],
    ['username with +', { users: [user('a+')] }, 'users[0].username: must match pattern'],
    ['username with #', { users: [user('#')] }, 'users[0].username: must match pattern'],
    ['username with template', { users: [user('{username}')] }, 'users[0].username: must match pattern'],
    ['username with space', { users: [user('a b')] }, 'users[0].username: must match pattern'],
    ['empty username', { users: [user('')] }, 'users[0].username: must NOT have fewer than 1 characters'],
    ['both password and passwordHash', { users: [user('a', { passwordHash: HASH })] }, 'users[0]: needs exactly one of password'],
    ['neither password nor passwordHash', { users: [{ username: 'a', roles: [] }] }, 'users[0]: needs exactly one of password'],
    ['bad hash format', { users: [{ username: 'a', passwordHash: 'md5$abc', roles: [] }] }, 'users[0].passwordHash: must look like scrypt$N$r$p$salt$hash'],
    ['bad hash N', { users: [{ username: 'a', passwordHash: HASH.replace('$1024$', '$1000$'), roles: [] }] }, 'users[0].passwordHash: must look like'],
    ['hash key too short', { users: [{ username: 'a', passwordHash: `scrypt$1024$8$1$${SALT}$AAAA`, roles: [] }] },
      'users[0].passwordHash: hash part is too short'],
    ['bad filter #', { topics: [{ filter: 'a/#/b', owners: ['x'] }] }, 'topics[0].filter: "a/#/b" \'#\' must be a whole level and the last one'],
    ['bad filter +', { topics: [{ filter: 'ok', owners: ['x'] }, { filter: 'a+', owners: ['x'] }] }, 'topics[1].filter: "a+" \'+\' must be a whole level'],
    ['unknown template', { topics: [{ filter: 'devices/{user}/#', owners: ['x'] }] },
      'topics[0].filter: "devices/{user}/#" only {username} and {clientid} templates are known'],
    ['$SYS registration', { topics: [{ filter: '$SYS/#', owners: ['x'] }] }, 'topics[0].filter: $SYS topics belong to the broker'],
    ['{username} owner without template', { topics: [{ filter: 'devices/+/#', owners: ['{username}'] }] },
      "topics[0].owners[0]: '{username}' as an owner needs a {username} level"],
    ['{username} owner with only {clientid}', { topics: [{ filter: 'c/{clientid}/#', owners: ['ops', '{username}'] }] }, 'topics[0].owners[1]:'],
    ['{clientid} owner', { topics: [{ filter: 'c/{clientid}/#', owners: ['{clientid}'] }] },
      "topics[0].owners[0]: only '{username}' may be used as an owner template"],
    ['no owners', { topics: [{ filter: 'a', owners: [] }] }, 'topics[0].owners: must NOT have fewer than 1 items'],
    ['missing owners', { topics: [{ filter: 'a' }] }, 'topics[0].owners: is required'],
    ['bad grant', { roles: { r: { subscribe: ['ok/#', '#/x'] } } }, 'roles.r.subscribe[1]: "#/x"'],
    ['empty grant', { roles: { r: { subscribe: [''] } } }, 'roles.r.subscribe[0]: must NOT have fewer than 1 characters'],
    ['dashboard idle beyond its max', { dashboard: { sessionIdleMs: 7200000, sessionMaxMs: 3600000 } },
      'dashboard.sessionIdleMs: must not exceed dashboard.sessionMaxMs (3600000)'],
    ['dashboard cookie setting', { dashboard: { secureCookie: 'never' } }, 'dashboard.secureCookie: must be one of "auto", "always"'],
    ['dashboard no session at all', { dashboard: { maxSessions: 0 } }, 'dashboard.maxSessions: must be >= 1'],
    ['replies responder role undefined', { replies: { prefix: 'reply', responders: ['ghost'] } }, 'replies.responders[0]: role "ghost" is not defined'],
    ['replies prefix with wildcard', { replies: { prefix: 'reply/+' } }, 'replies.prefix: must match pattern'],
    ['replies prefix under $', { replies: { prefix: '$reply' } }, 'replies.prefix: must match pattern'],
    ['replies prefix ending in /', { replies: { prefix: 'reply/' } }, 'replies.prefix: must match pattern'],
    ['replies without prefix', { replies: { responders: [] } }, 'replies.prefix: is required'],
    ['maxKeepAliveSeconds too large', { limits: { maxKeepAliveSeconds: 70000 } }, 'limits.maxKeepAliveSeconds: must be <= 65535']
  ])('%s', (_name, data, expected) => {
    const err = errorOf(() => parseConfig(data, 'test.yaml'))
    expect(err.code).toBe('WARDEN_ERR_CONFIG_INVALID')
    expect(err.message.startsWith('invalid config in test.yaml: ')).toBe(true)
    expect(err.message).toContain(expected)
  })
})

describe('parseConfig: valid input', () => {
  it('fills every default the README documents', () => {
    const c = parseConfig({}, 'test.yaml')
    // brokerId's `warden-<host>-<pid>` is made at start; the others are values
    const documented = [...DOCUMENTED].filter(([path]) => path !== 'brokerId')
    expect(documented.length).toBeGreaterThan(40)
    for (const [path, value] of documented) expect(at(c, path), path).toEqual(value)
  })

  it('fills every default and freezes the result', () => {
    // the listener ports are the README's (the test above): nothing is opened here
    const port = (key: string): unknown => DOCUMENTED.get(`${key}.port`)
    const c = parseConfig({}, 'test.yaml')
    expect(c).toEqual({
      mqtt: { port: port('mqtt'), host: '0.0.0.0' },
      http: { port: port('http'), host: '127.0.0.1', tls: false },
      dataDir: './data',
      persistence: 'level',
      anonymous: false,
      unregisteredTopics: 'deny',
      deniedPublish: 'drop',
      mqtt5: true,
      behindProxy: false,
      roles: {},
      users: [],
      topics: [],
      log: { level: 'info', format: 'json' },
      stats: { intervalMs: 1000, sysIntervalMs: 10000 },
      sessions: { expiryMs: 604800000, sweepIntervalMs: 60000, maxPending: 100000 },
      dashboard: { sessionIdleMs: 1800000, sessionMaxMs: 43200000, maxSessions: 1000, maxSessionsPerUser: 10, secureCookie: 'auto', recentMessages: 0 },
      sharedSubscriptions: { maxQueued: 10000, handoverTimeoutMs: 5000 },
      tls: { enabled: false, port: port('tls'), host: '0.0.0.0', clientCerts: 'none', certIdentity: 'cn' },
      ws: { enabled: false, port: port('ws'), host: '0.0.0.0', path: '/mqtt' },
      wss: { enabled: false, port: port('wss'), host: '0.0.0.0', path: '/mqtt' },
      limits: {
        connectTimeoutMs: 30000,
        heartbeatIntervalMs: 60000,
        drainTimeoutMs: 60000,
        maxTopicLevels: 64,
        maxInflightInbound: 1024,
        topicAliasMaximum: 0,
        outboundTopicAliases: 32,
        maxKeepAliveSeconds: 0,
        maxPacketBytes: 1048576,
        maxTopicLength: 1024,
        maxConnections: 100000,
        maxConnectionsPerUser: 1000,
        maxSubscriptionsPerClient: 1000,
        maxQueuedMessages: 10000,
        maxQueuedBytes: 67108864,
        retained: { maxMessagesPerUser: 1000, maxBytesPerUser: 16777216, maxMessages: 100000, maxBytes: 268435456 },
        maxOutgoingBytes: 4194304,
        flowControl: { enabled: true, highWater: 0.25, lowWater: 0.0625, minDrainBytesPerSec: 16384, maxHoldMs: 1000 },
        publishRate: { perSecond: 1000, burst: 5000, onExcess: 'delay' },
        connectionRate: { perSecond: 50, burst: 200 },
        login: {
          maxFailuresPerUserAddress: 10, maxFailuresPerAddress: 100, windowMs: 600000, lockoutMs: 60000, maxLockoutMs: 3600000,
          delayMs: 200, maxDelayMs: 5000, maxPendingPerUserAddress: 2, maxPendingPerAddress: 32, verifyConcurrency: 0, maxVerifyingPerUser: 2,
          cacheTtlMs: 60000
        }
      }
    })
    expect(Object.isFrozen(c) && Object.isFrozen(c.mqtt) && Object.isFrozen(c.users)).toBe(true)
  })

  it('accepts templates, built-in roles, unicode usernames, hashes, and does not touch its input', () => {
    const data = {
      anonymous: 'guest',
      roles: { guest: { subscribe: ['public/#'] }, fleet: { subscribe: ['devices/{username}/cmd/#', 'clients/{clientid}/#'] } },
      users: [
        { username: 'josé', passwordHash: HASH, roles: ['fleet', 'observer'] },
        { username: "o'brien", password: 'pw', roles: ['admin', 'producer', 'consumer'], loopbackOnly: true }
      ],
      topics: [
        { filter: 'devices/{username}/#', owners: ['{username}'] },
        { filter: 'fleet/dev-{username}/{clientid}', owners: ['{username}', 'ops'] },
        { filter: '$app/#', owners: ['josé'] }
      ]
    }
    const before = structuredClone(data)
    const c = parseConfig(data, 'test.yaml')
    expect(c.users.map((u) => u.username)).toEqual(['josé', "o'brien"])
    expect(c.topics).toHaveLength(3)
    expect(data).toEqual(before)
    expect(Object.isFrozen(data)).toBe(false)
  })
})

describe('loadConfig', () => {
  let dir: string
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'warden-config-')) })
  afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

  const file = async (name: string, text: string): Promise<string> => {
    const p = join(dir, name)
    await writeFile(p, text)
    return p
  }

  it.each([{}, { WARDEN_CONFIG: '' }])('refuses to start on bare defaults without WARDEN_CONFIG (%j), saying what to set', (env) => {
    const err = errorOf(() => loadConfig({ env }))
    expect(err.code).toBe('WARDEN_ERR_CONFIG_MISSING')
    expect(err.message).toMatch(/^no configuration: set WARDEN_CONFIG to a config file/)
  })

  it.each([['empty.yaml', ''], ['blank.yaml', '# nothing yet\n'], ['empty.json', '{}']])('refuses an empty config file (%s), naming it', async (name, text) => {
    const path = await file(name, text)
    const err = errorOf(() => loadConfig({ env: { WARDEN_CONFIG: path } }))
    expect(err.code).toBe('WARDEN_ERR_CONFIG_MISSING')
    expect(err.message).toBe(`config file ${path} is empty: it needs at least users (or anonymous) and topics; see config/warden.yaml`)
  })

  it('names a bad key of the file even when an environment override replaces it', async () => {
    const path = await file('hidden.yaml', 'mqtt: { port: abc }\nhttp: { port: -1 }\nusers: []\n')
    // values only: nothing listens
    const err = errorOf(() => loadConfig({ env: { WARDEN_CONFIG: path, WARDEN_MQTT_PORT: '21000', WARDEN_HTTP_PORT: '22000' } }))
    expect(err.code).toBe('WARDEN_ERR_CONFIG_INVALID')
    expect(err.message).toBe(`invalid config in ${path}: mqtt.port: must be integer; http.port: must be >= 0`)
  })

  it('lets an override supply what a cross-key check needs (redis.url for persistence: redis)', async () => {
    const path = await file('redis.yaml', 'persistence: redis\n')
    expect(loadConfig({ env: { WARDEN_CONFIG: path, WARDEN_REDIS_URL: 'redis://127.0.0.1:1' } }).redis).toEqual({ url: 'redis://127.0.0.1:1' })
  })

  it('reads the demo config/warden.yaml', () => {
    const c = loadConfig({ env: { WARDEN_CONFIG: join(import.meta.dirname, '../../config/warden.yaml') } })
    expect(c.users.length).toBeGreaterThan(0)
    expect(c.topics).toContainEqual({ filter: 'devices/{username}/#', owners: ['{username}'] })
  })

  it('reads YAML and JSON, then applies every environment override', async () => {
    const yaml = await file('a.yaml', 'mqtt: { port: 1000, host: 127.0.0.1 }\nhttp: { host: 0.0.0.0 }\nlog: { level: warn }\n')
    const json = await file('a.json', JSON.stringify({ mqtt: { port: 1000, host: '127.0.0.1' }, http: { host: '0.0.0.0' }, log: { level: 'warn' } }))
    for (const path of [yaml, json]) {
      expect(loadConfig({ env: { WARDEN_CONFIG: path } })).toMatchObject({ mqtt: { port: 1000, host: '127.0.0.1' }, log: { level: 'warn' } })
      const c = loadConfig({
        env: {
          WARDEN_CONFIG: path, WARDEN_MQTT_PORT: '0', WARDEN_HTTP_PORT: '9090', WARDEN_DATA_DIR: '/var/lib/warden', WARDEN_LOG_LEVEL: 'debug',
          WARDEN_BROKER_ID: 'b-1'
        }
      })
      expect(c).toMatchObject({
        mqtt: { port: 0, host: '127.0.0.1' }, http: { port: 9090, host: '0.0.0.0' }, dataDir: '/var/lib/warden', log: { level: 'debug' }, brokerId: 'b-1'
      })
    }
  })

  it('ignores empty overrides', async () => {
    const path = await file('min.yaml', 'users: []\n')
    expect(loadConfig({ env: { WARDEN_CONFIG: path, WARDEN_MQTT_PORT: '', WARDEN_DATA_DIR: '' } }))
      .toMatchObject({ mqtt: { port: DOCUMENTED.get('mqtt.port') }, dataDir: './data' })
  })

  it.each([
    ['WARDEN_MQTT_PORT', '70000'], ['WARDEN_MQTT_PORT', 'abc'], ['WARDEN_MQTT_PORT', '-1'], ['WARDEN_MQTT_PORT', '1.5'],
    ['WARDEN_HTTP_PORT', '65536'], ['WARDEN_HTTP_PORT', 'http']
  ])('bad %s=%j names the variable', async (name, value) => {
    const path = await file('min.yaml', 'users: []\n')
    const err = errorOf(() => loadConfig({ env: { WARDEN_CONFIG: path, [name]: value } }))
    expect(err.code).toBe('WARDEN_ERR_CONFIG_INVALID')
    expect(err.message).toBe(`${name}: must be a port number 0-65535, got ${JSON.stringify(value)}`)
  })

  it.each([
    ['WARDEN_LOG_LEVEL', 'loud', 'log.level: must be one of'],
    ['WARDEN_LOG_FORMAT', 'fancy', 'WARDEN_LOG_FORMAT: must be one of json, pretty, got "fancy"'],
    ['WARDEN_BROKER_ID', 'a b', 'brokerId: must match pattern']
  ])('bad %s=%j names the key', async (name, value, expected) => {
    const path = await file('min.yaml', 'users: []\n')
    const err = errorOf(() => loadConfig({ env: { WARDEN_CONFIG: path, [name]: value } }))
    expect(err.code).toBe('WARDEN_ERR_CONFIG_INVALID')
    expect(err.message).toContain(expected)
  })

  it('names the file in its errors', async () => {
    const path = await file('bad.yaml', 'users:\n  - { username: alice, password: pw, roles: [nope] }\n')
    const err = errorOf(() => loadConfig({ env: { WARDEN_CONFIG: path } }))
    expect(err.message).toBe(`invalid config in ${path}: users[0].roles[0]: role "nope" is not defined under roles`)
  })

  it('rejects a file whose root is not a mapping', async () => {
    const path = await file('list.yaml', '- a\n- b\n')
    const err = errorOf(() => loadConfig({ env: { WARDEN_CONFIG: path } }))
    expect(err.code).toBe('WARDEN_ERR_CONFIG_INVALID')
    expect(err.message).toContain('(root): must be a mapping')
  })

  it.each([
    ['missing.yaml', null, 'cannot read config file'],
    ['broken.yaml', 'mqtt: [unclosed\n', 'cannot parse config file'],
    ['broken.json', '{ "mqtt": ', 'cannot parse config file']
  ])('%s: WARDEN_ERR_CONFIG_READ naming the path', async (name, text, expected) => {
    const path = text === null ? join(dir, name) : await file(name, text)
    const err = errorOf(() => loadConfig({ env: { WARDEN_CONFIG: path } }))
    expect(err.code).toBe('WARDEN_ERR_CONFIG_READ')
    expect(err.message).toContain(`${expected} ${path}`)
  })
})
