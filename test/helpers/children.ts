// Every child process a test helper spawns, and how it is stopped: a stop that cannot hang, and a last resort
// that kills what is still running when the test worker goes away (a test or hook that timed out, a failed
// assertion before the stop was registered).
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'

/** children not yet seen to exit */
const running = new Set<ChildProcess>()

const alive = (child: ChildProcess): boolean => child.exitCode === null && child.signalCode === null

/** records `child` until it exits, so that the worker's last resort can kill it */
export function trackChild<C extends ChildProcess> (child: C): C {
  if (child.pid === undefined || !alive(child)) return child
  running.add(child)
  child.once('exit', () => running.delete(child))
  return child
}

/**
 * Sends `signal`, and SIGKILL if the child has not exited `graceMs` later; resolves once it has exited. A stop
 * awaited in an afterEach therefore ends within `graceMs` even when the process cannot finish shutting down
 * (a broker whose store batch is held never closes its store), and the hooks after it still run.
 */
export async function stopChild (child: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (!alive(child)) return
  const exited = once(child, 'exit')
  child.kill(signal)
  const timer = signal === 'SIGKILL' ? undefined : setTimeout(() => { if (alive(child)) child.kill('SIGKILL') }, graceMs)
  try { await exited } finally { clearTimeout(timer) }
}

/** SIGKILLs every child still running (SIGKILL acts on a SIGSTOPped process too) */
function killAll (): void {
  for (const child of running) {
    try { child.kill('SIGKILL') } catch {}
  }
  running.clear()
}

// The last resort. Vitest ends a worker with SIGTERM (SIGKILL 500 ms later), which runs no 'exit' handler:
// kill the children, then let the signal do what it would have done.
process.once('exit', killAll)
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    killAll()
    process.kill(process.pid, signal)
  })
}
