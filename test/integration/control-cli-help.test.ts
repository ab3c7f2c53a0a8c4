// The `warden` command as a user meets it: `npx warden` from the repository root, --help on every command and
// group, and --json that pipes into jq.
import { execFileSync } from 'node:child_process'
import { copyFile, mkdir, mkdtemp, readFile, realpath, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { PASSWORD } from '../helpers/broker.js'
import { runCli, runShell } from '../helpers/cli.js'
import { httpUrl } from '../helpers/http.js'
import { ROOT } from '../helpers/process.js'
import { useScope } from '../helpers/scope.js'

const BROKER_PKG = join(ROOT, 'apps', 'broker')

describe('npx warden', () => {
  it('resolves to a bin that is in git and executable, so `npm install` links it before any build', async () => {
    const bin = (JSON.parse(await readFile(join(BROKER_PKG, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin.warden
    expect(bin).toBeDefined()
    const tracked = join('apps', 'broker', bin as string)
    // git's file mode: 100755 is executable
    expect(execFileSync('git', ['ls-files', '-s', '--', tracked], { cwd: ROOT, encoding: 'utf8' })).toMatch(/^100755 /)
    expect(await realpath(join(ROOT, 'node_modules', '.bin', 'warden'))).toBe(await realpath(join(ROOT, tracked)))
    // --no: never install a package of that name from the registry; `help`, as npx keeps a `--help` right
    // after the command's name for itself
    const r = await runShell('npx --no warden help')
    expect(r).toMatchObject({ code: 0, stdout: expect.stringMatching(/^usage:\n {2}warden status /) })
  })

  it('says how to build it when the CLI is not built yet', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'warden-bin-'))
    try {
      await mkdir(join(dir, 'bin'))
      await copyFile(join(BROKER_PKG, 'bin', 'warden.js'), join(dir, 'bin', 'warden.js'))
      const r = await runShell(`node ${join(dir, 'bin', 'warden.js')} status`)
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(/the CLI is not built yet: run `npm run build`/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('--help', () => {
  const COMMANDS = [
    'status', 'clients', 'fleet', 'sessions', 'denials', 'groups', 'passwd',
    'user ls', 'user add', 'user roles', 'user passwd', 'user rm',
    'role ls', 'role add', 'role set', 'role rm',
    'topic ls', 'topic register', 'topic rm',
    'session ls', 'session show', 'session rm', 'client kick'
  ]
  it.each(COMMANDS)('warden %s --help prints its usage and exits 0', async (name) => {
    // no WARDEN_ADMIN_PASSWORD, no broker: help needs neither
    const r = await runCli([...name.split(' '), '--help'])
    expect(r).toMatchObject({ code: 0, stderr: '' })
    expect(r.stdout.split('\n')[0]).toMatch(new RegExp(`^usage: warden ${name}( |$)`))
  })

  it('answers -h and `warden help <command>` the same, whatever else is on the line', async () => {
    const help = (await runCli(['topic', 'register', '--help'])).stdout
    expect((await runCli(['topic', 'register', 'a/#', '--owner', 'x', '-h'])).stdout).toBe(help)
    expect((await runCli(['help', 'topic', 'register'])).stdout).toBe(help)
  })

  it.each(['user', 'role', 'topic', 'session'])('warden %s --help lists its subcommands and exits 0', async (group) => {
    const r = await runCli([group, '--help'])
    expect(r).toMatchObject({ code: 0, stderr: '' })
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('  warden '))
    expect(lines.length).toBeGreaterThan(1)
    expect(lines.every((l) => l.startsWith(`  warden ${group} `))).toBe(true)
    expect((await runCli(['help', group])).stdout).toBe(r.stdout)
  })

  it('lists every command in the full usage', async () => {
    const r = await runCli(['--help'])
    expect(r.code).toBe(0)
    for (const name of COMMANDS) expect(r.stdout).toMatch(new RegExp(`^ {2}warden ${name}( |$)`, 'm'))
  })

  it('answers a group without a subcommand, and an unknown one, with the group\'s usage on stderr and exit 2', async () => {
    const bare = await runCli(['user'])
    expect(bare).toMatchObject({ code: 2, stdout: '' })
    expect(bare.stderr).toMatch(/^warden user: needs a subcommand \(WARDEN_ERR_USAGE\)\nusage:\n {2}warden user ls/)
    const unknown = await runCli(['role', 'frob', '--help'])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(/unknown command: warden role frob/)
  })
})

describe('--json into jq', () => {
  const scope = useScope()
  it('pipes cleanly through `npx warden` and `npm run -s warden --`', async () => {
    const tb = await scope.start()
    const env = { WARDEN_URL: httpUrl(tb), WARDEN_ADMIN_PASSWORD: PASSWORD }
    for (const line of ['npx --no warden status --json | jq -er .brokerId', 'npm run -s warden -- status --json | jq -er .brokerId']) {
      const r = await runShell(line, { env })
      expect(r, line).toMatchObject({ code: 0, stdout: `${tb.broker.id}\n` })
    }
    // why the README says -s: npm's banner goes to stdout and jq chokes on it
    expect((await runShell('npm run warden -- status --json | jq -e .brokerId', { env })).code).not.toBe(0)
  })
})
