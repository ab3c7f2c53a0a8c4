// Runs the built `warden` CLI (apps/broker/dist/cli.js) as a child process, with stdin and environment; or a
// shell line the way a README reader types it (`npx warden … | jq`).
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { ROOT } from './process.js'

export interface CliRun { readonly code: number | null, readonly stdout: string, readonly stderr: string }

export const CLI = resolve(ROOT, 'apps', 'broker', 'dist', 'cli.js')

interface RunOptions { env?: Record<string, string>, stdin?: string, cwd?: string }

export function runCli (args: string[], opts: RunOptions = {}): Promise<CliRun> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`)
  return run(process.execPath, [CLI, ...args], opts)
}

/** `bash -o pipefail -c <line>` in the repository root: a pipeline fails when any of its commands does */
export function runShell (line: string, opts: RunOptions = {}): Promise<CliRun> {
  return run('bash', ['-o', 'pipefail', '-c', line], opts)
}

function run (file: string, args: string[], { env = {}, stdin = '', cwd = ROOT }: RunOptions): Promise<CliRun> {
  return new Promise((resolvePromise, reject) => {
    // a clean environment: no WARDEN_* of the developer's shell leaks in
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WARDEN_')))
    const child = spawn(file, args, { cwd, env: { ...base, ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    child.on('error', reject)
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }))
    child.stdin.end(stdin)
  })
}
