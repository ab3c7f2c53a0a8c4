// A private redis-server (Debian's) on a free loopback port, with no disk persistence; stopped by PID.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
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
}

export async function startRedis (opts: RedisOptions = {}): Promise<TestRedis> {
  const port = await freePort()
  const persistence = opts.aof === undefined
    ? ['--appendonly', 'no']
    : ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', opts.aof]
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence, '--protected-mode', 'yes']
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
    stop: () => exit('SIGTERM'),
    kill: () => exit('SIGKILL'),
    async restart () {
      if (child.exitCode === null && child.signalCode === null) return
      child = await spawnRedis(args)
    }
  }
}

async function spawnRedis (args: string[]): Promise<ChildProcess> {
  const child: ChildProcess = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes('Ready to accept connections')) resolve()
    })
    child.once('error', (err) => reject(new Error(`cannot start redis-server (apt-get install redis-server): ${err.message}`)))
    child.once('exit', (code) => reject(new Error(`redis-server exited (${String(code)}): ${out}`)))
  })
  return child
}
