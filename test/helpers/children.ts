// Every child process a test helper spawns, and how it is stopped: a stop that cannot hang, and a last resort
// that kills what is still running when the test worker goes away (a test or hook that timed out, a failed
// assertion before the stop was registered).
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'

/** children not yet seen to exit, each with its rank in the order they were spawned */
const running = new Map<ChildProcess, number>()
let spawned = 0

const alive = (child: ChildProcess): boolean => child.exitCode === null && child.signalCode === null

/** records `child` until it exits, so that the worker's last resort can kill it */
export function trackChild<C extends ChildProcess> (child: C): C {
  if (child.pid === undefined || !alive(child)) return child
  running.set(child, ++spawned)
  child.once('exit', () => running.delete(child))
  return child
}

/** a mark for killChildrenSince: the children spawned until now are not after it */
export function childrenMark (): number {
  return spawned
}

/** SIGKILLs the children spawned after `mark` that are still running, and resolves once they have exited */
export async function killChildrenSince (mark: number): Promise<void> {
  await Promise.all([...running].filter(([, rank]) => rank > mark).map(([child]) => stopChild(child, 'SIGKILL', 0)))
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

/** what else to kill at the last resort: processes that are not children of the worker (a pm2 daemon) */
const lastResorts = new Set<() => void>()

/** runs `kill` (synchronous: it runs in an 'exit' handler) if the worker ends before the returned undo is called */
export function atLastResort (kill: () => void): () => void {
  lastResorts.add(kill)
  return () => { lastResorts.delete(kill) }
}

/** SIGKILLs every child still running (SIGKILL acts on a SIGSTOPped process too), then the rest */
function killAll (): void {
  for (const child of running.keys()) {
    try { child.kill('SIGKILL') } catch {}
  }
  running.clear()
  for (const kill of lastResorts) {
    try { kill() } catch {}
  }
  lastResorts.clear()
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
