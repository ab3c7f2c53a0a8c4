#!/usr/bin/env node
// The system programs the tests (or the benchmarks) run, and the Debian packages that bring them: checks each,
// installs the missing ones with apt when it can (root on Debian), and otherwise exits non-zero naming them
// and the command that installs them. `npm test` runs it first (pretest), `npm run bench` too (prebench).
// A test that needs one of these programs fails without it; none is skipped.
import { spawnSync } from 'node:child_process'
import { accessSync, constants, existsSync } from 'node:fs'
import { delimiter, join } from 'node:path'

/** program → Debian package; a program named by an environment variable is looked for there instead */
const NEEDS = {
  test: [
    { program: 'mosquitto_pub', pkg: 'mosquitto-clients' },
    { program: 'mosquitto_sub', pkg: 'mosquitto-clients' },
    { program: 'redis-server', pkg: 'redis-server' },
    { program: process.env.WARDEN_CHROMIUM ?? 'chromium', pkg: 'chromium', env: 'WARDEN_CHROMIUM' },
    { program: 'openssl', pkg: 'openssl' }
  ],
  bench: [
    { program: 'mosquitto', pkg: 'mosquitto' },
    { program: 'mosquitto_passwd', pkg: 'mosquitto' },
    { program: 'redis-server', pkg: 'redis-server' }
  ]
}

const purpose = process.argv[2] ?? 'test'
const needs = NEEDS[purpose]
if (needs === undefined) {
  process.stderr.write(`system-deps: unknown purpose "${purpose}" (test or bench)\n`)
  process.exit(2)
}

function found (program) {
  if (program.includes('/')) return isExecutable(program)
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && isExecutable(join(dir, program)))
}

function isExecutable (path) {
  try { accessSync(path, constants.X_OK); return true } catch { return false }
}

const missingOf = () => needs.filter((n) => !found(n.program))
let missing = missingOf()
if (missing.length === 0) process.exit(0)

const pkgs = [...new Set(missing.map((n) => n.pkg))]
const names = missing.map((n) => n.program).join(', ')
const canInstall = process.getuid?.() === 0 && existsSync('/usr/bin/apt-get') && process.env.WARDEN_NO_INSTALL !== '1'

if (canInstall) {
  process.stderr.write(`system-deps: ${names} missing; installing Debian packages: ${pkgs.join(' ')}\n`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  const run = (args) => spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env })
  const updated = run(['update', '-qq'])
  const installed = updated.status === 0 && run(['install', '-y', '-qq', '--no-install-recommends', ...pkgs]).status === 0
  missing = missingOf()
  if (installed && missing.length === 0) process.exit(0)
}

const stillPkgs = [...new Set(missing.map((n) => n.pkg))]
const sudo = process.getuid?.() === 0 ? '' : 'sudo '
const viaEnv = missing.filter((n) => n.env !== undefined).map((n) => ` (or point ${n.env} at it)`).join('')
process.stderr.write(
  `system-deps: the ${purpose === 'test' ? 'tests need' : 'benchmarks need'} ${missing.map((n) => n.program).join(', ')}, ` +
  `from the Debian package${stillPkgs.length > 1 ? 's' : ''} ${stillPkgs.join(' ')}${viaEnv}.\n` +
  `Install ${stillPkgs.length > 1 ? 'them' : 'it'} with:\n` +
  `  ${sudo}apt-get update && ${sudo}apt-get install -y --no-install-recommends ${stillPkgs.join(' ')}\n`)
process.exit(1)
