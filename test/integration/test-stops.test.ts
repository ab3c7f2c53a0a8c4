// Every test stops what it started, even one that times out or fails before its stop: a child `vitest run` runs
// test/fixtures/test-stops/: tests that hold a store batch in a broker process and then time out or fail an
// assertion before the stop at their end, and one that fails before it destroys its private pm2 daemon. Once
// that vitest has exited, none of those processes may still be running, and the brokers' data dirs must be gone
// (useScope kills what a failed test started before removing its dirs; test/helpers/children.ts kills what a
// worker leaves behind).
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { stopChild, trackChild } from '../helpers/children.js'
import { waitUntil } from '../helpers/ports.js'
import { ROOT } from '../helpers/process.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()

/** running: a zombie (killed, not yet reaped by whoever inherited it) is not */
function running (pid: number): boolean {
  try { process.kill(pid, 0) } catch { return false }
  try { return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z') !== true } catch { return false }
}

it('broker processes holding a store batch, and a pm2 daemon and its app, do not outlive a test that timed out or failed before stopping them', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'warden-test-stops-'))
  scope.defer(() => rm(dir, { recursive: true, force: true }))
  const pidsFile = join(dir, 'pids')
  const dirsFile = join(dir, 'dirs')
  const pids: number[] = []
  const dirs: string[] = []
  // what this test started: should they have survived, they are killed (and the dirs removed) here, after the
  // check failed
  scope.defer(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))))
  scope.defer(() => { for (const pid of pids) if (running(pid)) process.kill(pid, 'SIGKILL') })

  // the outer run's VITEST* variables would make the child think it is one of this run's workers
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST')))
  const args = [join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--config', 'test/fixtures/test-stops/vitest.config.mts']
  const vitest = trackChild(spawn(process.execPath, args, {
    cwd: ROOT, env: { ...env, NO_COLOR: '1', WARDEN_TEST_STOPS_PIDS: pidsFile, WARDEN_TEST_STOPS_DIRS: dirsFile }, stdio: ['ignore', 'pipe', 'pipe']
  }))
  scope.defer(() => stopChild(vitest, 'SIGTERM', 2000))
  let output = ''
  vitest.stdout.on('data', (d: Buffer) => { output += d.toString() })
  vitest.stderr.on('data', (d: Buffer) => { output += d.toString() })
  const [code] = await once(vitest, 'close') as [number | null]

  pids.push(...(await readFile(pidsFile, 'utf8')).trim().split('\n').map(Number))
  dirs.push(...(await readFile(dirsFile, 'utf8')).trim().split('\n'))
  // the three tests failed, each after its broker held the batch or its daemon ran the app
  expect(output).toMatch(/Tests\s+3 failed/)
  expect(code).toBe(1)
  expect(pids).toHaveLength(4)
  // useScope killed the brokers after their tests failed, the worker the pm2 daemon and its app as it ended;
  // the poll covers the kernel's reaping
  await waitUntil(() => pids.some(running) ? undefined : true, 'the processes gone', 5000, 50).catch(() => {})
  expect(pids.filter(running), 'still running').toEqual([])
  // and no broker wrote into its data dir after the test removed it
  expect(dirs).toHaveLength(2)
  expect(dirs.filter((d) => existsSync(d)), 'left behind').toEqual([])
}, 120_000)
