#!/usr/bin/env node
// `warden` command line: `warden passwd` prints a scrypt hash for a config's passwordHash; `warden user`,
// `warden role`, `warden topic`, `warden session`, `warden status` and `warden registry` (cli/registry-cli.ts) talk to a running broker's control plane (cli/control-cli.ts).
import { createInterface } from 'node:readline'
import { DEFAULT_SCRYPT, hashPassword } from './auth/password.js'
import { CONTROL_USAGE, runControlCli } from './cli/control-cli.js'
import { REGISTRY_USAGE, runRegistryCli } from './cli/registry-cli.js'

const USAGE = `usage: warden passwd [--cost K] [password]
  Prints a scrypt hash for a user's passwordHash. Without a password argument it is read from
  standard input (one line), which keeps it out of the shell history.
  --cost K   scrypt N = 2^K (default 14, 10..20): each step doubles the work of a login and of a guess
${CONTROL_USAGE}
${REGISTRY_USAGE}`

async function readLine (): Promise<string> {
  const rl = createInterface({ input: process.stdin, terminal: false })
  for await (const line of rl) { rl.close(); return line }
  return ''
}

async function main (argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv
  if (cmd === 'passwd') {
    let params = DEFAULT_SCRYPT
    if (rest[0] === '--cost') {
      const k = Number(rest[1])
      if (!Number.isInteger(k) || k < 10 || k > 20) { process.stderr.write('warden passwd: --cost must be an integer 10..20\n'); return 2 }
      params = { ...DEFAULT_SCRYPT, N: 2 ** k }
      rest.splice(0, 2)
    }
    if (process.stdin.isTTY && rest.length === 0) process.stderr.write('password: ')
    const password = rest[0] ?? await readLine()
    if (password === '') { process.stderr.write('warden passwd: empty password\n'); return 2 }
    process.stdout.write(await hashPassword(password, params) + '\n')
    return 0
  }
  if (cmd === 'user' || cmd === 'role' || cmd === 'topic' || cmd === 'session' || cmd === 'status') {
    return await runControlCli(cmd, rest, { env: process.env, stdin: process.stdin, stdout: process.stdout, stderr: process.stderr })
  }
  if (cmd === 'registry') {
    return await runRegistryCli(rest, { env: process.env, stdin: process.stdin, stdout: process.stdout, stderr: process.stderr })
  }
  if (cmd === undefined || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    process.stdout.write(USAGE + '\n')
    return cmd === undefined ? 2 : 0
  }
  process.stderr.write(`warden: unknown command ${JSON.stringify(cmd)}\n${USAGE}\n`)
  return 2
}

process.exitCode = await main(process.argv.slice(2))
