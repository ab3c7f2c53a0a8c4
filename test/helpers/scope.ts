// What a test starts — MQTT clients, raw sockets, a broker — closed after it (clients first, then the
// broker). `useScope()` registers the afterEach hook itself; call it once at the top of a test file.
import type { IClientOptions } from 'mqtt'
import { afterEach } from 'vitest'
import type { AuditEvent } from '../../apps/broker/src/audit/audit.js'
import { startBroker, type StartOptions, type TestBroker } from './broker.js'
import { connect, type TestClient } from './mqtt.js'
import type { RawClient } from './raw-mqtt.js'

export interface Scope {
  /** the broker of the running test: the last one `start` started */
  readonly tb: TestBroker
  /** audit events of that broker since it started */
  readonly events: AuditEvent[]
  /** starts a broker (closing the one running, if any), closed (data dir removed) after the test */
  start (opts?: StartOptions): Promise<TestBroker>
  /** stops the running broker (its clients are closed) and starts it again on the same data dir and options
   * (`config` replaces the config it was started with); `whileStopped` runs in between (e.g. to write into the
   * stopped broker's store) */
  restart (opts?: RestartOptions): Promise<TestBroker>
  /** an MQTT.js client of `username` on the running broker (or on `at`), ended after the test */
  client (username: string | undefined, opts?: IClientOptions, at?: { url: string }): Promise<TestClient>
  /** a raw socket, destroyed after the test */
  track (raw: RawClient): RawClient
  /** a counter of the running broker's audit (`kind:reason`) */
  count (key: string): number
}

export interface RestartOptions {
  config?: Record<string, unknown>
  whileStopped?: (dataDir: string) => Promise<void>
}

export function useScope (): Scope {
  let broker: TestBroker | undefined
  let startOpts: StartOptions = {}
  let events: AuditEvent[] = []
  const clients: TestClient[] = []
  const raws: RawClient[] = []
  afterEach(async () => {
    for (const r of raws.splice(0)) r.destroy()
    await Promise.all(clients.splice(0).map((c) => c.end()))
    await broker?.close()
    broker = undefined
  })
  const running = (): TestBroker => {
    if (broker === undefined) throw new Error('no broker started in this test')
    return broker
  }
  const open = async (opts: StartOptions): Promise<TestBroker> => {
    startOpts = opts
    broker = await startBroker(opts)
    const mine: AuditEvent[] = []
    events = mine
    broker.broker.audit.onRecord((e) => mine.push(e))
    return broker
  }
  return {
    get tb () { return running() },
    get events () { return events },
    async start (opts = {}) {
      await broker?.close()
      broker = undefined
      return await open(opts)
    },
    async restart ({ config, whileStopped } = {}) {
      const { dataDir } = running()
      await running().stop()
      broker = undefined
      await whileStopped?.(dataDir)
      // the data dir is removed with the new broker, after the test
      return await open({ ...startOpts, ...(config !== undefined ? { config } : {}), dataDir })
    },
    async client (username, opts = {}, at) {
      const c = await connect((at ?? running()).url, username, opts)
      clients.push(c)
      return c
    },
    track (raw) {
      raws.push(raw)
      return raw
    },
    count: (key) => broker?.broker.audit.counts.get(key) ?? 0
  }
}
