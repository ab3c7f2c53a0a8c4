// A private redis-server (Debian's) on a free loopback port, with no disk persistence; stopped by PID.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { freePort } from './ports.js'

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
}

export interface RedisOptions {
  /** a directory for an append-only file written on every command (appendfsync always) */
  aof?: string
  /** a replica of the Redis on this port */
  replicaOf?: number
}

export async function startRedis (opts: RedisOptions = {}): Promise<TestRedis> {
  const port = await freePort()
  // a directory of its own even without persistence: a replica's full sync writes an RDB file there, which the
  // next redis-server started in the same directory would load
  const dir = opts.aof ?? await mkdtemp(join(tmpdir(), 'warden-redis-'))
  const persistence = opts.aof === undefined
    ? ['--appendonly', 'no', '--dir', dir]
    : ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir]
  const replica = opts.replicaOf === undefined ? [] : ['--replicaof', '127.0.0.1', String(opts.replicaOf)]
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence, ...replica, '--protected-mode', 'yes']
  let child = await spawnRedis(args)
  const exit = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.kill(signal)
    await exited
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
      if (opts.aof === undefined) await rm(dir, { recursive: true, force: true })
    },
    kill: () => exit('SIGKILL'),
    async restart () {
      if (child.exitCode === null && child.signalCode === null) return
      child = await spawnRedis(args)
    }
  }
}

async function spawnRedis (args: string[], readyLine = 'Ready to accept connections'): Promise<ChildProcess> {
  const child: ChildProcess = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
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

export interface TestSentinels {
  readonly master: TestRedis
  readonly replica: TestRedis
  /** the sentinel's port; the master is known to it as `name` */
  readonly port: number
  readonly name: string
  /** the port of the Redis the sentinel names as master now */
  masterPort (): Promise<number>
  stop (): Promise<void>
}

/** A master, its replica and one sentinel (quorum 1) that fails over a second after the master stops answering. */
export async function startSentinels (dir: string): Promise<TestSentinels> {
  const master = await startRedis()
  const replica = await startRedis({ replicaOf: master.port })
  const port = await freePort()
  const name = 'warden-master'
  const conf = join(dir, 'sentinel.conf')
  await writeFile(conf, [
    `port ${port}`, 'bind 127.0.0.1', `dir ${dir}`,
    `sentinel monitor ${name} 127.0.0.1 ${master.port} 1`,
    `sentinel down-after-milliseconds ${name} 1000`,
    `sentinel failover-timeout ${name} 5000`,
    `sentinel parallel-syncs ${name} 1`
  ].join('\n') + '\n')
  const child = await spawnRedis([conf, '--sentinel'], 'Sentinel ID is')
  const masterPort = async (): Promise<number> => {
    const r = new Redis({ port, host: '127.0.0.1' })
    try {
      const [, p] = await r.call('SENTINEL', 'get-master-addr-by-name', name) as [string, string]
      return Number(p)
    } finally { r.disconnect() }
  }
  return {
    master,
    replica,
    port,
    name,
    masterPort,
    async stop () {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit')
        child.kill('SIGTERM')
        await exited
      }
      await Promise.all([master.stop(), replica.stop()])
    }
  }
}
