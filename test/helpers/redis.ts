// A private redis-server (Debian's) on a free loopback port, with no disk persistence; stopped by PID.
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer, connect as tcpConnect, type Socket } from 'node:net'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll } from 'vitest'
import type { TestBroker } from './broker.js'
import { stopChild, trackChild } from './children.js'
import { freePort, waitUntil } from './ports.js'
import type { Scope } from './scope.js'

/**
 * How long a stop waits after SIGTERM before SIGKILL: redis-server waits up to `shutdown-timeout` (10 s by
 * default) for lagging replicas before it exits, so a graceful stop is never cut short.
 */
const REDIS_STOP_GRACE_MS = 12_000

export interface TestRedis {
  readonly url: string
  readonly port: number
  /** empties every database, so that tests sharing one server do not see each other's state */
  flush (): Promise<void>
  stop (): Promise<void>
  /** SIGKILL: what a crash or an OOM kill does */
  kill (): Promise<void>
  /** starts it again on the same port (and, with `aof`, the same data) after stop() or kill() */
  restart (): Promise<void>
  /** SIGSTOP: it answers nothing, neither its clients nor its master, until resume() (SIGCONT) */
  pause (): void
  resume (): void
}

export interface RedisOptions {
  /** a directory for an append-only file written on every command (appendfsync always) */
  aof?: string
  /** a replica of the Redis on this port */
  replicaOf?: number
  /** a directory holding a `dump.rdb` to start from (read at start, never written: no saving); left in place */
  rdb?: string
}

export async function startRedis (opts: RedisOptions = {}): Promise<TestRedis> {
  const port = await freePort()
  // a directory of its own even without persistence: a replica's full sync writes an RDB file there, which the
  // next redis-server started in the same directory would load
  const dir = opts.aof ?? opts.rdb ?? await mkdtemp(join(tmpdir(), 'warden-redis-'))
  const persistence = opts.aof === undefined
    ? ['--appendonly', 'no', '--dir', dir, '--dbfilename', 'dump.rdb']
    : ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir]
  const replica = opts.replicaOf === undefined ? [] : ['--replicaof', '127.0.0.1', String(opts.replicaOf)]
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence, ...replica, '--protected-mode', 'yes']
  let child = await spawnRedis(args)
  const exit = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGCONT') // a paused server would not act on SIGTERM
    await stopChild(child, signal, REDIS_STOP_GRACE_MS)
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async flush () {
      const r = new Redis(`redis://127.0.0.1:${port}`)
      try { await r.flushall() } finally { r.disconnect() }
    },
    async stop () {
      await exit('SIGTERM')
      if (opts.aof === undefined && opts.rdb === undefined) await rm(dir, { recursive: true, force: true })
    },
    kill: () => exit('SIGKILL'),
    pause () { child.kill('SIGSTOP') },
    resume () { child.kill('SIGCONT') },
    async restart () {
      if (child.exitCode === null && child.signalCode === null) return
      child = await spawnRedis(args)
    }
  }
}

async function spawnRedis (args: string[], readyLine = 'Ready to accept connections'): Promise<ChildProcess> {
  const child: ChildProcess = trackChild(spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] }))
  let out = ''
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes(readyLine)) resolve()
    })
    child.once('error', (err) => reject(new Error(`cannot start redis-server (apt-get install redis-server): ${err.message}`)))
    child.once('exit', (code) => reject(new Error(`redis-server exited (${String(code)}): ${out}`)))
  })
  return child
}

/** `INFO replication` of the Redis on `port`, as fields */
async function replicationInfo (port: number): Promise<Map<string, string>> {
  const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 })
  try {
    await r.connect()
    const info = await r.info('replication')
    return new Map(info.split('\r\n').filter((l) => l.includes(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]))
  } finally { r.disconnect() }
}

/**
 * Resolves once `replica` has every write `master` had made when this was called: its link to the master up,
 * the master counting it online, and the offset it has applied at least the master's. A replica started
 * answers commands at once, but its first sync comes later (the master waits `repl-diskless-sync-delay`, 5 s
 * by default, for more replicas to sync with), and until then a WAIT for it times out.
 */
export async function replicaCaughtUp (master: TestRedis, replica: TestRedis, timeoutMs = 30_000): Promise<void> {
  const target = Number((await replicationInfo(master.port)).get('master_repl_offset'))
  await waitUntil(async () => {
    const r = await replicationInfo(replica.port)
    if (r.get('master_link_status') !== 'up' || !(Number(r.get('slave_repl_offset')) >= target)) return undefined
    const m = await replicationInfo(master.port)
    const online = [...m].some(([k, v]) => /^slave\d+$/.test(k) && v.includes(`port=${replica.port},`) && v.includes('state=online'))
    return online ? true : undefined
  }, `the replica on ${replica.port} caught up with the master on ${master.port}`, timeoutMs, 50)
}

export interface TestSentinels {
  readonly master: TestRedis
  readonly replica: TestRedis
  /** the first sentinel's port; the master is known to the sentinels as `name` */
  readonly port: number
  /** every sentinel's port */
  readonly ports: readonly number[]
  /** the replication link runs through here: hold() stops passing what the master sends its replica */
  readonly link: ReplicationLink
  readonly name: string
  /** the port of the Redis the first sentinel names as master now */
  masterPort (): Promise<number>
  stop (): Promise<void>
}

/** A master, its replica and `count` sentinels (a majority of them the quorum) that fail over a second after
 * the master stops answering. */
export async function startSentinels (dir: string, count = 1): Promise<TestSentinels> {
  const master = await startRedis()
  const admin = new Redis(master.url)
  // the replica's first sync at once, not after the 5 s a master waits by default for more replicas
  try { await admin.config('SET', 'repl-diskless-sync-delay', '0') } finally { admin.disconnect() }
  const link = await replicationLink(master.port)
  const replica = await startRedis({ replicaOf: link.port })
  const name = 'warden-master'
  const quorum = Math.floor(count / 2) + 1
  const children: ChildProcess[] = []
  const ports: number[] = []
  try {
    // replicating before the sentinels start: their first look at the master lists the replica
    await replicaCaughtUp(master, replica)
    for (let i = 0; i < count; i++) {
      const port = await freePort()
      // each sentinel rewrites its own file (its id, the others it found): one file each
      const conf = join(dir, `sentinel-${i}.conf`)
      await writeFile(conf, [
        `port ${port}`, 'bind 127.0.0.1', `dir ${dir}`,
        `sentinel monitor ${name} 127.0.0.1 ${master.port} ${quorum}`,
        `sentinel down-after-milliseconds ${name} 1000`,
        `sentinel failover-timeout ${name} 5000`,
        `sentinel parallel-syncs ${name} 1`
      ].join('\n') + '\n')
      children.push(await spawnRedis([conf, '--sentinel'], 'Sentinel ID is'))
      ports.push(port)
    }
    // a failover needs each sentinel to know the replica (and its link up) and, for the quorum, the others
    for (const port of ports) await sentinelReady(port, name, replica.port, count - 1)
  } catch (err) {
    for (const c of children) c.kill('SIGKILL')
    await Promise.all([master.stop(), replica.stop()])
    link.close()
    throw err
  }
  const masterPort = async (): Promise<number> => {
    const r = new Redis({ port: ports[0], host: '127.0.0.1' })
    try {
      const [, p] = await r.call('SENTINEL', 'get-master-addr-by-name', name) as [string, string]
      return Number(p)
    } finally { r.disconnect() }
  }
  return {
    master,
    replica,
    port: ports[0] as number,
    ports,
    link,
    name,
    masterPort,
    async stop () {
      await Promise.all(children.map((child) => stopChild(child, 'SIGTERM', REDIS_STOP_GRACE_MS)))
      await Promise.all([master.stop(), replica.stop()])
      link.close()
    }
  }
}

/** resolves once the sentinel on `port` sees the replica on `replicaPort` replicating, and `others` other sentinels */
async function sentinelReady (port: number, name: string, replicaPort: number, others: number): Promise<void> {
  const r = new Redis({ port, host: '127.0.0.1' })
  const fields = (flat: string[]): Map<string, string> => {
    const m = new Map<string, string>()
    for (let i = 0; i + 1 < flat.length; i += 2) m.set(flat[i] as string, flat[i + 1] as string)
    return m
  }
  try {
    await waitUntil(async () => {
      const replicas = (await r.call('SENTINEL', 'replicas', name) as string[][]).map(fields)
      const known = replicas.some((f) => f.get('port') === String(replicaPort) && f.get('master-link-status') === 'ok' &&
        !/s_down|disconnected/.test(f.get('flags') ?? ''))
      const sentinels = await r.call('SENTINEL', 'sentinels', name) as unknown[]
      return known && sentinels.length >= others ? true : undefined
    }, `sentinel on ${port} to know the replica and ${others} other sentinels`, 30_000, 50)
  } finally { r.disconnect() }
}

export interface ReplicationLink {
  readonly port: number
  /** what the master sends from now on stays unread here, and is dropped with the connection when the
   * master goes: replication lags as it does when a link is slow, which a paused replica cannot show
   * (the kernel would hand it what was already sent) */
  hold (): void
  /** holds the link at the first chunk the master sends from now on that contains `marker` (a key name):
   * the replica gets nothing from that write on, and answers no WAIT for it, until release() */
  holdAt (marker: string): void
  /** passes on what was held, in order, and lets the link run again */
  release (): void
  close (): void
}

/** A TCP relay between a replica and its master. */
export async function replicationLink (masterPort: number): Promise<ReplicationLink> {
  const pairs = new Set<[Socket, Socket]>()
  let held = false
  let marker: Buffer | undefined
  const waiting: Array<[Socket, Buffer]> = []
  const pauseAll = (): void => { for (const [, masterSide] of pairs) masterSide.pause() }
  const server = createServer((replicaSide) => {
    const masterSide = tcpConnect(masterPort, '127.0.0.1')
    const pair: [Socket, Socket] = [replicaSide, masterSide]
    pairs.add(pair)
    const end = (): void => { pairs.delete(pair); replicaSide.destroy(); masterSide.destroy() }
    replicaSide.on('error', end).on('close', end)
    masterSide.on('error', end).on('close', end)
    replicaSide.pipe(masterSide)
    // by hand, so that a chunk can be looked at before it is passed on
    masterSide.on('data', (d: Buffer) => {
      if (!held && marker !== undefined && d.includes(marker)) { marker = undefined; held = true; pauseAll() }
      if (held) waiting.push([replicaSide, d])
      else replicaSide.write(d)
    })
    if (held) masterSide.pause()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  return {
    port,
    hold () {
      held = true
      pauseAll()
    },
    holdAt (m) { marker = Buffer.from(m) },
    release () {
      held = false
      marker = undefined
      for (const [replicaSide, d] of waiting.splice(0)) if (!replicaSide.destroyed) replicaSide.write(d)
      for (const [, masterSide] of pairs) masterSide.resume()
    },
    close () {
      for (const [a, b] of pairs) { a.destroy(); b.destroy() }
      server.close()
    }
  }
}

/**
 * A private Redis for the brokers of a file (or of the describe block it is called in): started before its first
 * test, emptied after each, stopped after the last. Call it before useScope(): hooks registered first run
 * last, so Redis is emptied once the test's brokers are closed.
 */
export function useSharedRedis (): TestRedis {
  let redis: TestRedis | undefined
  beforeAll(async () => { redis = await startRedis() })
  afterEach(async () => { await redis?.flush() })
  afterAll(async () => { await redis?.stop() })
  return new Proxy({} as TestRedis, {
    get (_, key) {
      if (redis === undefined) throw new Error('useSharedRedis: no Redis (its beforeAll failed)')
      const value = (redis as unknown as Record<PropertyKey, unknown>)[key]
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(redis) : value
    }
  })
}

/** a broker of `scope` on `persistence`; on Redis, a Redis of its own, stopped after the broker */
export async function startOnStore (scope: Scope, persistence: 'memory' | 'level' | 'redis'): Promise<TestBroker> {
  if (persistence !== 'redis') return await scope.start({ config: { persistence } })
  const redis = await startRedis()
  const started: { tb?: TestBroker } = {}
  // the broker goes before its Redis (deferred closes run before the scope's brokers close)
  scope.defer(async () => { await started.tb?.stop(); await redis.stop() })
  started.tb = await scope.start({ config: { persistence, redis: { url: redis.url } } })
  return started.tb
}
