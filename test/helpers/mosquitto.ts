// Runs the real mosquitto_pub / mosquitto_sub (Debian's mosquitto-clients) against a test broker.
import { spawn, type ChildProcess } from 'node:child_process'
import { stopChild, trackChild } from './children.js'

export interface Run { code: number | null, stdout: string, stderr: string }

export function mosquittoPub (port: number, args: string[]): Promise<Run> {
  return run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), ...args])
}

function run (cmd: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = trackChild(spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }))
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    p.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    p.on('error', reject)
    p.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

export interface Sub {
  readonly lines: string[]
  /** resolves when a line satisfying pred has been printed */
  waitForLine (pred: (line: string) => boolean): Promise<string>
  /** resolves with the exit status once mosquitto_sub has exited */
  exited (): Promise<Run>
  stop (): Promise<void>
}

/** Starts mosquitto_sub; the caller waits for the broker's 'subscribe' event to know it is subscribed. */
export function mosquittoSub (port: number, args: string[]): Sub {
  const p: ChildProcess = trackChild(spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(port), ...args], { stdio: ['ignore', 'pipe', 'pipe'] }))
  const lines: string[] = []
  let stderr = ''
  let buf = ''
  const waiters: Array<{ pred: (l: string) => boolean, resolve: (l: string) => void }> = []
  p.stdout?.on('data', (d: Buffer) => {
    buf += d.toString()
    let i: number
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i)
      buf = buf.slice(i + 1)
      lines.push(line)
      for (let j = waiters.length - 1; j >= 0; j--) {
        const w = waiters[j]
        if (w !== undefined && w.pred(line)) { waiters.splice(j, 1); w.resolve(line) }
      }
    }
  })
  p.stderr?.on('data', (d: Buffer) => { stderr += d.toString() })
  const exit = new Promise<Run>((resolve) => p.on('close', (code) => resolve({ code, stdout: lines.join('\n'), stderr })))
  return {
    lines,
    waitForLine (pred) {
      const found = lines.find(pred)
      if (found !== undefined) return Promise.resolve(found)
      return new Promise((resolve, reject) => {
        waiters.push({ pred, resolve })
        exit.then((r) => reject(new Error(`mosquitto_sub exited (${String(r.code)}): ${r.stderr}`)), () => {})
      })
    },
    exited: () => exit,
    async stop () {
      // mosquitto_sub exits at once on SIGTERM (it has nothing to flush): 2 s is for a machine under load
      await stopChild(p, 'SIGTERM', 2000)
      await exit
    }
  }
}
