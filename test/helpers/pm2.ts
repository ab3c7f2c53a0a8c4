// Runs the project's ecosystem file under pm2 with a private PM2_HOME, free ports and throwaway dirs.
import { execFile, spawn } from 'node:child_process'
import { readdirSync, readFileSync, rmSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { stringify } from 'yaml'
import { atLastResort } from './children.js'
import { freePort } from './ports.js'
import { ROOT } from './process.js'

const run = promisify(execFile)
const PM2 = resolve(ROOT, 'node_modules', '.bin', 'pm2')

export interface Pm2App {
  name: string
  pid: number
  pm2_env: { status: string, restart_time: number, exec_mode?: string, NODE_APP_INSTANCE?: number, node_args?: string[] }
}
export interface ConsumerSummary { received: number, telemetry: number, unique: number, gaps: number, duplicates: number, devices: number }

export interface Run { code: number | null, stdout: string, stderr: string }

export interface Deployment {
  readonly dir: string
  readonly mqttPort: number
  /** the environment every command of this deployment runs with (private PM2_HOME, ports, dirs) */
  readonly env: NodeJS.ProcessEnv
  pm2 (...args: string[]): Promise<string>
  /** the README's `npm start` (build, then scripts/start.mjs), with this deployment's environment and `extra` */
  npmStart (extra?: Record<string, string>): Promise<Run>
  /** the README's `npm restart` (build, then scripts/start.mjs --restart), likewise */
  npmRestart (extra?: Record<string, string>): Promise<Run>
  apps (): Promise<Pm2App[]>
  summary (): Promise<ConsumerSummary>
  /** kills the private pm2 daemon (and so every process it started) and removes the dir */
  destroy (): Promise<void>
}

export interface DeployOptions {
  devices?: number
  rate?: number
  qos?: 0 | 1 | 2
  env?: Record<string, string>
  /**
   * run the shipped config/producer.yaml and config/consumer.yaml, moved only through the variables the README
   * documents (ports, WARDEN_DATA_ROOT, WARDEN_LOG_ROOT, PM2_HOME); devices, rate and qos are then theirs
   */
  shipped?: boolean
}

/** Starts the three processes as `npm start` does; throws with start's stderr when it fails. */
export async function deploy (opts: DeployOptions = {}): Promise<Deployment> {
  const d = await prepare(opts)
  const res = await d.npmStart()
  if (res.code !== 0) {
    await d.destroy()
    throw new Error(`npm start failed (${String(res.code)}): ${res.stderr}`)
  }
  return d
}

/** Everything `deploy` sets up (configs, dirs, ports, private PM2_HOME) without starting anything. */
export async function prepare ({ devices = 3, rate = 20, qos = 1, env: extra = {}, shipped = false }: DeployOptions = {}): Promise<Deployment> {
  const dir = await mkdtemp(join(tmpdir(), 'warden-pm2-'))
  const mqttPort = await freePort()
  // where WARDEN_LOG_ROOT puts it (ecosystem.config.js), whatever the consumer's config says
  const summaryFile = join(dir, 'logs', 'consumer-summary.json')
  const producerConfig = join(dir, 'producer.yaml')
  const consumerConfig = join(dir, 'consumer.yaml')
  if (!shipped) await writeTestConfigs({ dir, producerConfig, consumerConfig, summaryFile, devices, rate, qos })
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PM2_HOME: join(dir, 'pm2'),
    // no banner on the first pm2 command of a new PM2_HOME (it would precede jlist's JSON)
    PM2_DISCRETE_MODE: 'true',
    WARDEN_MQTT_PORT: String(mqttPort),
    WARDEN_HTTP_PORT: String(await freePort()),
    WARDEN_DATA_ROOT: join(dir, 'data'),
    WARDEN_LOG_ROOT: join(dir, 'logs'),
    ...(shipped ? {} : { WARDEN_PRODUCER_CONFIG: producerConfig, WARDEN_CONSUMER_CONFIG: consumerConfig }),
    ...extra
  }
  const pm2 = async (...args: string[]): Promise<string> => {
    const { stdout } = await run(PM2, args, { env, cwd: ROOT, maxBuffer: 16 * 1024 * 1024 })
    return stdout
  }
  const forget = atLastResort(() => {
    killPm2Home(env.PM2_HOME as string)
    if (process.env.WARDEN_KEEP_E2E === undefined) rmSync(dir, { recursive: true, force: true })
  })
  const d: Deployment = {
    dir,
    mqttPort,
    env,
    pm2,
    npmStart: (more = {}) => runCommand('npm', ['start', '--silent'], { ...env, ...more }),
    npmRestart: (more = {}) => runCommand('npm', ['restart', '--silent'], { ...env, ...more }),
    apps: async () => JSON.parse(await pm2('jlist')) as Pm2App[],
    summary: async () => JSON.parse(await readFile(summaryFile, 'utf8')) as ConsumerSummary,
    async destroy () {
      await pm2('kill').catch(() => {})
      forget()
      if (process.env.WARDEN_KEEP_E2E === undefined) await rm(dir, { recursive: true, force: true })
    }
  }
  return d
}

/**
 * SIGKILLs the daemon of the private PM2_HOME `home` and the apps it started, found by the PID files pm2 keeps
 * there; a PID is killed only if that process runs with this PM2_HOME (a stale file's PID may be another's now).
 */
function killPm2Home (home: string): void {
  const files = [join(home, 'pm2.pid')]
  try { files.push(...readdirSync(join(home, 'pids')).map((f) => join(home, 'pids', f))) } catch {}
  for (const file of files) {
    try {
      const pid = Number(readFileSync(file, 'utf8').trim())
      if (readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`PM2_HOME=${home}`)) process.kill(pid, 'SIGKILL')
    } catch {}
  }
}

/** a small fleet and a consumer with one filter, at the test's rate and QoS */
async function writeTestConfigs ({ dir, producerConfig, consumerConfig, summaryFile, devices, rate, qos }: {
  dir: string, producerConfig: string, consumerConfig: string, summaryFile: string, devices: number, rate: number, qos: 0 | 1 | 2
}): Promise<void> {
  await writeFile(producerConfig, stringify({
    // WARDEN_MQTT_URL from the ecosystem file overrides it; port 9 (discard) fails loudly if it did not
    broker: { url: 'mqtt://127.0.0.1:9' },
    fleet: { size: devices, usernamePrefix: 'device-', password: 'demo-device' },
    rate,
    qos,
    summaryIntervalMs: 0
  }))
  await writeFile(consumerConfig, stringify({
    broker: { url: 'mqtt://127.0.0.1:9' },
    username: 'consumer',
    password: 'demo-consumer',
    clientId: 'e2e-consumer',
    subscriptions: ['devices/+/telemetry'],
    qos,
    output: { file: join(dir, 'messages.log'), stdout: false },
    summaryIntervalMs: 250,
    summaryFile,
    stateFile: join(dir, 'consumer-state.json')
  }))
}

function runCommand (cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (b: Buffer) => { stdout += b.toString() })
    p.stderr.on('data', (b: Buffer) => { stderr += b.toString() })
    p.on('error', reject)
    p.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}
