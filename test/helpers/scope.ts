// What a test starts — MQTT clients, raw sockets, brokers, anything else given to `defer` — closed after it.
// `useScope()` registers its hooks itself; call it once at the top of a test file. What a `beforeAll` opens
// through the scope belongs to the file and is closed after the file's last test.
import type { IClientOptions } from 'mqtt'
import { afterAll, afterEach, beforeEach } from 'vitest'
import type { AuditEvent } from '../../apps/broker/src/audit/audit.js'
import { startBroker, type StartOptions, type TestBroker } from './broker.js'
import { childrenMark, killChildrenSince } from './children.js'
import { connect, type TestClient } from './mqtt.js'
import type { RawClient } from './raw-mqtt.js'

export interface Scope {
  /** the broker of the running test: the last one `start` started (in the test, else in the file's beforeAll) */
  readonly tb: TestBroker
  /** audit events of that broker since it started */
  readonly events: AuditEvent[]
  /** starts a broker (closing the one running at the same level, if any), closed (data dir removed) after the
   * test — or, started in a beforeAll, after the file */
  start (opts?: StartOptions): Promise<TestBroker>
  /** stops the running broker (its clients are closed) and starts it again on the same data dir and options
   * (`config` replaces the config it was started with); `whileStopped` runs in between (e.g. to write into the
   * stopped broker's store) */
  restart (opts?: RestartOptions): Promise<TestBroker>
  /** a broker beside the running one (another node of a cluster, a broker of the test's own), closed with it */
  startAnother (opts?: StartOptions): Promise<TestBroker>
  /** an MQTT.js client of `username` on the running broker (or on `at`), ended after the test */
  client (username: string | undefined, opts?: IClientOptions, at?: { url: string }): Promise<TestClient>
  /** a raw socket, destroyed after the test */
  track (raw: RawClient): RawClient
  /** runs `close` after the test, before its clients are ended and its brokers closed; the last given runs
   * first (a broker process, a browser, a timer, a temporary directory) */
  defer (close: () => unknown): void
  /** a counter of the running broker's audit (`kind:reason`) */
  count (key: string): number
}

export interface RestartOptions {
  config?: Record<string, unknown>
  whileStopped?: (dataDir: string) => Promise<void>
}

/** what one test (or the file, from its beforeAll hooks) opened */
interface Level {
  broker: TestBroker | undefined
  startOpts: StartOptions
  events: AuditEvent[]
  readonly others: TestBroker[]
  readonly clients: TestClient[]
  readonly raws: RawClient[]
  readonly deferred: Array<() => unknown>
}

const newLevel = (): Level => ({ broker: undefined, startOpts: {}, events: [], others: [], clients: [], raws: [], deferred: [] })

/** Closes everything `l` holds; every step runs even when one fails, and the first failure is thrown. */
async function closeLevel (l: Level): Promise<void> {
  const errors: unknown[] = []
  const step = async (close: () => unknown): Promise<void> => { try { await close() } catch (err) { errors.push(err) } }
  for (const r of l.raws.splice(0)) await step(() => r.destroy())
  for (const close of l.deferred.splice(0).reverse()) await step(close)
  await Promise.all(l.clients.splice(0).map((c) => step(() => c.end())))
  const brokers = [...l.others.splice(0), ...(l.broker !== undefined ? [l.broker] : [])]
  l.broker = undefined
  await Promise.all(brokers.map((b) => step(() => b.close())))
  if (errors.length > 0) throw errors[0]
}

export function useScope (): Scope {
  const file = newLevel()
  let test: Level | undefined
  let mark = 0
  beforeEach(() => { test = newLevel(); mark = childrenMark() })
  afterEach(async ({ task }) => {
    const l = test
    test = undefined
    // a test that failed (a timeout, an assertion) may not have reached the stop of a process it started: kill
    // those first, before what the test deferred removes their data dirs under them
    if (task.result?.state === 'fail') await killChildrenSince(mark)
    if (l !== undefined) await closeLevel(l)
  })
  afterAll(async () => { await closeLevel(file) })

  /** where what is opened now belongs */
  const here = (): Level => test ?? file
  /** the level whose broker is the running one */
  const owner = (): Level => {
    if (test?.broker !== undefined) return test
    if (file.broker !== undefined) return file
    throw new Error('no broker started in this test')
  }
  const open = async (l: Level, opts: StartOptions): Promise<TestBroker> => {
    l.startOpts = opts
    const broker = await startBroker(opts)
    l.broker = broker
    const mine: AuditEvent[] = []
    l.events = mine
    broker.broker.audit.onRecord((e) => mine.push(e))
    return broker
  }
  return {
    get tb () { return owner().broker as TestBroker },
    get events () { return owner().events },
    async start (opts = {}) {
      const l = here()
      await l.broker?.close()
      l.broker = undefined
      return await open(l, opts)
    },
    async restart ({ config, whileStopped } = {}) {
      const l = owner()
      const { dataDir } = l.broker as TestBroker
      await l.broker?.stop()
      l.broker = undefined
      await whileStopped?.(dataDir)
      // the data dir is removed with the new broker, after the test
      return await open(l, { ...l.startOpts, ...(config !== undefined ? { config } : {}), dataDir })
    },
    async startAnother (opts = {}) {
      const l = here()
      const b = await startBroker(opts)
      l.others.push(b)
      return b
    },
    async client (username, opts = {}, at) {
      const l = here()
      const c = await connect((at ?? owner().broker as TestBroker).url, username, opts)
      l.clients.push(c)
      return c
    },
    track (raw) {
      here().raws.push(raw)
      return raw
    },
    defer (close) {
      here().deferred.push(close)
    },
    count: (key) => (test?.broker ?? file.broker)?.broker.audit.counts.get(key) ?? 0
  }
}
