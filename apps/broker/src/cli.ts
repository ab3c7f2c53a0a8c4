#!/usr/bin/env node
// `warden` command line: `warden passwd` prints a scrypt hash for a config's passwordHash.
import { createInterface } from 'node:readline'
import { hashPassword } from './auth/password.js'

const USAGE = `usage: warden passwd [password]
  Prints a scrypt hash for a user's passwordHash. Without an argument the password is read from
  standard input (one line), which keeps it out of the shell history.`

async function readLine (): Promise<string> {
  const rl = createInterface({ input: process.stdin, terminal: false })
  for await (const line of rl) { rl.close(); return line }
  return ''
}

async function main (argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv
  if (cmd === 'passwd') {
    if (process.stdin.isTTY && rest.length === 0) process.stderr.write('password: ')
    const password = rest[0] ?? await readLine()
    if (password === '') { process.stderr.write('warden passwd: empty password\n'); return 2 }
    process.stdout.write(await hashPassword(password) + '\n')
    return 0
  }
  if (cmd === undefined || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    process.stdout.write(USAGE + '\n')
    return cmd === undefined ? 2 : 0
  }
  process.stderr.write(`warden: unknown command ${JSON.stringify(cmd)}\n${USAGE}\n`)
  return 2
}

process.exitCode = await main(process.argv.slice(2))
