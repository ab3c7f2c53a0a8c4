// Starts a real Warden broker in this process on an ephemeral loopback port, with a throwaway data dir.
import { rmSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLogger } from '../../packages/common/src/index.js'
import { createWardenBroker, type WardenBroker } from '../../apps/broker/src/broker/create-broker.js'
import { parseConfig } from '../../apps/broker/src/config/load-config.js'
import { hashPassword } from '../../apps/broker/src/auth/password.js'

/** Low-cost hashes keep the many test logins fast; production hashes use DEFAULT_SCRYPT. */
const FAST = { N: 1024, r: 8, p: 1 }
const hashes = new Map<string, Promise<string>>()
export function fastHash (password: string): Promise<string> {
  let h = hashes.get(password)
  if (h === undefined) { h = hashPassword(password, FAST); hashes.set(password, h) }
  return h
}

export const PASSWORD = 'test-secret'

export interface TestBroker {
  readonly broker: WardenBroker
  readonly port: number
  readonly url: string
  readonly dataDir: string
  /** closes the broker; keeps the data dir so that a new broker can be started on it */
  stop (): Promise<void>
  /** closes the broker and removes the data dir */
  close (): Promise<void>
}

export interface StartOptions {
  config?: Record<string, unknown>
  dataDir?: string
  port?: number
}

/** The shape of the config example, with fast hashes. */
export async function baseConfig (): Promise<Record<string, unknown>> {
  const passwordHash = await fastHash(PASSWORD)
  const user = (username: string, roles: string[]): Record<string, unknown> => ({ username, passwordHash, roles })
  return {
    mqtt: { port: 0, host: '127.0.0.1' },
    http: { port: 0 },
    persistence: 'level',
    anonymous: false,
    unregisteredTopics: 'deny',
    deniedPublish: 'drop',
    log: { level: 'silent' },
    roles: {
      producer: { subscribe: ['devices/{username}/cmd/#'] },
      consumer: { subscribe: ['sensors/#'] },
      observer: { subscribe: ['#', '$SYS/#'] },
      admin: {}
    },
    users: [
      user('sensor-1', ['producer']),
      user('sensor-2', ['producer']),
      user('dashboard', ['consumer']),
      user('observer', ['observer']),
      user('admin', ['admin'])
    ],
    topics: [
      { filter: 'sensors/sensor-1/#', owners: ['sensor-1'] },
      { filter: 'sensors/sensor-2/#', owners: ['sensor-2'] },
      { filter: 'sensors/shared/#', owners: ['sensor-1', 'sensor-2'] },
      { filter: 'devices/{username}/telemetry', owners: ['{username}'] },
      { filter: 'devices/{username}/cmd/#', owners: ['admin'] },
      { filter: 'private/#', owners: ['sensor-1'] }
    ]
  }
}

/** data dirs this helper made: a test that only stop()s a broker (to restart it) still leaves nothing behind */
const madeDirs = new Set<string>()
process.once('exit', () => { for (const d of madeDirs) rmSync(d, { recursive: true, force: true }) })

export async function startBroker ({ config, dataDir, port = 0 }: StartOptions = {}): Promise<TestBroker> {
  const dir = dataDir ?? await mkdtemp(join(tmpdir(), 'warden-test-'))
  if (dataDir === undefined) madeDirs.add(dir)
  const cfg = parseConfig({ ...(await baseConfig()), ...config, dataDir: dir, mqtt: { port, host: '127.0.0.1' } }, 'test')
  const logger = createLogger({ name: 'test-broker', level: process.env.WARDEN_TEST_LOG ?? 'silent' })
  let broker: WardenBroker
  try {
    broker = await createWardenBroker(cfg, { logger })
  } catch (err) {
    // a start expected to fail leaves no data dir behind (a test worker may end without 'exit' handlers)
    if (dataDir === undefined) { madeDirs.delete(dir); await rm(dir, { recursive: true, force: true }) }
    throw err
  }
  return {
    broker,
    port: broker.mqtt.port,
    url: `mqtt://127.0.0.1:${broker.mqtt.port}`,
    dataDir: dir,
    stop: () => broker.close(),
    async close () {
      await broker.close()
      await rm(dir, { recursive: true, force: true })
    }
  }
}
