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
}

export async function startRedis (): Promise<TestRedis> {
  const port = await freePort()
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes']
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
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async flush () {
      const r = new Redis(`redis://127.0.0.1:${port}`)
      try { await r.flushall() } finally { r.disconnect() }
    },
    async stop () {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = once(child, 'exit')
      child.kill('SIGTERM')
      await exited
    }
  }
}
