// Every test stops what it started, even one that times out or fails before its stop: a child `vitest run` runs
// test/fixtures/test-stops/held-broker.fixture.ts, whose tests hold a store batch in a broker process and then
// time out or fail an assertion before the stop at their end. Once that vitest has exited, neither broker
// process may still be running (test/helpers/children.ts kills what its worker leaves behind).
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
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

it('a broker process holding a store batch does not outlive a test that timed out or failed before stopping it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'warden-test-stops-'))
  scope.defer(() => rm(dir, { recursive: true, force: true }))
  const pidsFile = join(dir, 'pids')
  const pids: number[] = []
  // what this test started: should the brokers have survived, they are killed here, after the check failed
  scope.defer(() => { for (const pid of pids) if (running(pid)) process.kill(pid, 'SIGKILL') })

  // the outer run's VITEST* variables would make the child think it is one of this run's workers
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST')))
  const args = [join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--config', 'test/fixtures/test-stops/vitest.config.ts']
  const vitest = trackChild(spawn(process.execPath, args, {
    cwd: ROOT, env: { ...env, NO_COLOR: '1', WARDEN_TEST_STOPS_PIDS: pidsFile }, stdio: ['ignore', 'pipe', 'pipe']
  }))
  scope.defer(() => stopChild(vitest, 'SIGTERM', 2000))
  let output = ''
  vitest.stdout.on('data', (d: Buffer) => { output += d.toString() })
  vitest.stderr.on('data', (d: Buffer) => { output += d.toString() })
  const [code] = await once(vitest, 'close') as [number | null]

  pids.push(...(await readFile(pidsFile, 'utf8')).trim().split('\n').map(Number))
  // both tests failed, each after its broker held the batch
  expect(output).toMatch(/Tests\s+2 failed/)
  expect(code).toBe(1)
  expect(pids).toHaveLength(2)
  // the worker killed them as it ended, before vitest exited; the poll covers the kernel's reaping
  await waitUntil(() => pids.every((pid) => !running(pid)) ? true : undefined, `broker processes ${pids.join(', ')} gone`, 5000, 50)
}, 120_000)
