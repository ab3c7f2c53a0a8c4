// Spawns a built Warden app (dist/main.js) as a child process, the way pm2 does: with an IPC channel.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { stopChild, trackChild } from './children.js'

export const ROOT = resolve(import.meta.dirname, '../..')

/**
 * How long stop() waits after SIGTERM before it sends SIGKILL: the apps give a graceful shutdown 8 s
 * (runService's shutdownTimeoutMs, packages/common/src/lifecycle.ts) before they exit on their own, so a
 * graceful stop is never cut short; a process that outlives that limit (an event loop that never turns) is
 * killed 2 s later.
 */
export const STOP_GRACE_MS = 10_000

export interface AppProcess {
  readonly child: ChildProcess
  readonly output: string[]
  /** the lines written to stderr alone (they are in `output` too) */
  readonly stderr: string[]
  /** resolves when the app sent 'ready' (pm2's wait_ready), rejects if it exits first */
  ready (): Promise<void>
  /** resolves with the first parsed log line satisfying pred */
  waitForLog (pred: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>
  exited (): Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  /** sends `signal` (SIGTERM unless told), SIGKILL STOP_GRACE_MS later if it has not exited, and resolves with
   * how it exited */
  stop (signal?: NodeJS.Signals): Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

export function startApp (app: 'broker' | 'producer' | 'consumer', env: Record<string, string>): AppProcess {
  const main = resolve(ROOT, 'apps', app, 'dist', 'main.js')
  if (!existsSync(main)) throw new Error(`${main} is missing: run \`npm run build\` first (npm test does)`)
  const child = trackChild(spawn(process.execPath, [main], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc']
  }))
  const output: string[] = []
  const stderr: string[] = []
  let errBuf = ''
  const waiters: Array<{ pred: (l: Record<string, unknown>) => boolean, resolve: (l: Record<string, unknown>) => void }> = []
  let buf = ''
  const onData = (d: Buffer): void => {
    buf += d.toString()
    let i: number
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i)
      buf = buf.slice(i + 1)
      output.push(line)
      let parsed: Record<string, unknown>
      try { parsed = JSON.parse(line) as Record<string, unknown> } catch { continue }
      for (let j = waiters.length - 1; j >= 0; j--) {
        const w = waiters[j]
        if (w !== undefined && w.pred(parsed)) { waiters.splice(j, 1); w.resolve(parsed) }
      }
    }
  }
  child.stdout?.on('data', onData)
  child.stderr?.on('data', onData)
  child.stderr?.on('data', (d: Buffer) => {
    errBuf += d.toString()
    const lines = errBuf.split('\n')
    errBuf = lines.pop() ?? ''
    stderr.push(...lines)
  })
  // 'close': the process has exited and its output has been read to the end
  const exit = once(child, 'close').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }))
  const readyP = new Promise<void>((resolve, reject) => {
    child.on('message', (m) => { if (m === 'ready') resolve() })
    exit.then((e) => reject(new Error(`${app} exited (${String(e.code)}) before ready:\n${output.join('\n')}`)), () => {})
  })
  readyP.catch(() => {})
  return {
    child,
    output,
    stderr,
    ready: () => readyP,
    waitForLog (pred) {
      for (const line of output) {
        try { const p = JSON.parse(line) as Record<string, unknown>; if (pred(p)) return Promise.resolve(p) } catch {}
      }
      return new Promise((resolve, reject) => {
        waiters.push({ pred, resolve })
        exit.then((e) => reject(new Error(`${app} exited (${String(e.code)}):\n${output.join('\n')}`)), () => {})
      })
    },
    exited: () => exit,
    async stop (signal = 'SIGTERM') {
      await stopChild(child, signal, STOP_GRACE_MS)
      return await exit
    }
  }
}
