#!/usr/bin/env node
// The `warden` command line (cli/run-cli.ts): `warden passwd` hashes a password here; the other commands
// talk to a running broker's HTTP API. The only file of the CLI with side effects.
import { runCli } from './cli/run-cli.js'

process.exitCode = await runCli(process.argv.slice(2), { env: process.env, stdin: process.stdin, stdout: process.stdout, stderr: process.stderr })
