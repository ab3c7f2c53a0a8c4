// Every shell command of README.md, run through bash as printed against a fresh demo stack started the README's
// way (`npm install && npm start`: the shipped configs, a private PM2_HOME, free ports, its own data and log
// roots), and checked for what the README says it does. Ports reach the commands only through the variables
// the README documents and its rule for another copy (helpers/readme-commands.ts: `-p $WARDEN_MQTT_PORT`,
// `$WARDEN_HTTP_PORT`, WARDEN_URL). A command neither in RUN nor in NOT_RUN fails the test, as does a spec
// whose command is no longer in the README.
//
// Order: the README's, except that "Stop it" and "The demo accounts" run after the control plane (a reader
// stops the stack when done, not before trying the API). A command that does not end by itself (`npx pm2
// logs`, `mosquitto_sub` without -C, a line ending in `&`) is started as in a second terminal, given a second
// to subscribe, and stopped by the test (its process group, SIGTERM) once its output shows what the README
// promises — at once, or after the command named in `until.after` ran; its exit code is then the test's doing
// and is not checked. Every other command must exit with the code the README gives (0 unless it says).
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { basic } from '../helpers/http.js'
import { prepare, type Deployment } from '../helpers/pm2.js'
import { waitUntil } from '../helpers/ports.js'
import { ROOT } from '../helpers/process.js'
import { forAnotherCopy, normalized, readmeCommands, wellKnownPort, type ReadmeCommand } from '../helpers/readme-commands.js'

interface Ran { code: number | null, stdout: string, stderr: string, startedAt: number }

interface Spec {
  /** the exit code the README gives (default 0) */
  code?: number
  /** what the README says the command prints (its stdout) */
  stdout?: RegExp
  /** standard input, where the README says the command reads it */
  stdin?: string
  /**
   * a command that does not end by itself: stopped once its stdout matches, checked after the command `after`;
   * `never`: what it must not have printed by then
   */
  until?: { stdout: RegExp, after?: string, never?: RegExp }
  /** what else the README says happens, checked on the stack */
  check?: (out: Ran) => Promise<void>
}

/** The commands run, by the start of their text (whitespace as one space), in the order of the README. */
const RUN: ReadonlyArray<readonly [string, Spec]> = [
  // Run it
  ['npm install && npm start', { stdout: /^warden: started broker, producer, consumer \(MQTT on port \d+/m }],
  ['for d in device-06 device-07 device-08; do', {}],
  ['WARDEN_PRODUCER_DEVICES=8 npm restart', {
    stdout: /^warden: restarted broker, producer, consumer/m,
    check: async () => { await waitForClient('device-08') }
  }],
  // Watch it
  ['npx pm2 list #', { stdout: /^(?=[\s\S]*broker)(?=[\s\S]*producer)(?=[\s\S]*consumer)/ }],
  ['npx pm2 logs consumer #', { until: { stdout: /"msg":"summary"/ } }],
  ["mosquitto_sub -h 127.0.0.1 -u observer -P demo-observer -t '#' -v #", { until: { stdout: /^devices\/device-0\d\/telemetry \{/m } }],
  ["mosquitto_sub -h 127.0.0.1 -u observer -P demo-observer -t '$SYS/warden/audit/#' -v", {
    until: {
      stdout: /^\$SYS\/warden\/audit\/publish \{.*"reason":"not-owner".*devices\/device-02\/telemetry/m,
      after: 'device-02/telemetry -m forged',
      // the device's publish on its own subtree, just before, is not refused
      never: /"topic":"devices\/device-01\/telemetry"/
    }
  }],
  ['WARDEN_ADMIN_PASSWORD=demo-admin npx warden status #', { stdout: /\S/ }],
  // Publish as a device
  ['mosquitto_pub -h 127.0.0.1 -u device-01 -P demo-device -t devices/device-01/telemetry', {}],
  // exits 0: MQTT 3.1.1 has no negative acknowledgement; the refusal shows on the audit topic (above)
  ['mosquitto_pub -h 127.0.0.1 -u device-01 -P demo-device -t devices/device-02/telemetry -m forged', {}],
  // Control plane: API
  ['curl -u admin:demo-admin -H \'content-type: application/json\' -d \'{"filter":"sites/plant-1/#"', {
    stdout: /^\{"filter":"sites\/plant-1\/#","owners":\["device-01"\]/
  }],
  ['curl -u admin:demo-admin -H \'content-type: application/json\' -d \'{"owners":["device-01","device-02"]}\' -X PATCH', {
    stdout: /^\{"filter":"sites\/plant-1\/#","owners":\["device-01","device-02"\]/
  }],
  // CLI
  ['export WARDEN_ADMIN_PASSWORD=demo-admin', {}],
  ['npx warden status #', { stdout: /\S/ }],
  ['npx warden clients #', { stdout: /device-01/ }],
  ['npx warden fleet #', { stdout: /^device-01\s+1\s/m }],
  ['npx warden sessions #', { stdout: /warden-consumer/ }],
  ['npx warden denials --limit 20 #', { stdout: /not-owner/ }],
  // device-01's forged publish on device-02's telemetry (Publish as a device)
  ["npx warden denials --account device-01 --reason not-owner --topic 'devices/#' #", {
    stdout: /not-owner\s+device-01\s+\S+\s+\S+\s+devices\/device-02\/telemetry/
  }],
  ['npx warden groups #', {}],
  ['npx warden user ls', { stdout: /device-08/ }],
  ["echo 's3cret-pass' | npx warden user add sensor-01 --role producer", {}],
  ['npx warden user roles sensor-01 producer consumer', {}],
  ["npx warden role add night-shift --read 'devices/+/telemetry' --read 'alerts/#'", {}],
  ["npx warden role set night-shift 'devices/+/telemetry' #", {}],
  ['npx warden role ls', { stdout: /night-shift/ }],
  ["npx warden topic register 'sensors/sensor-01/#' --owner sensor-01 ", {}],
  ["npx warden topic register 'sensors/sensor-01/#' --owner device-01 --update #", {}],
  ['npx warden topic ls', { stdout: /sensors\/sensor-01\/#[\s\S]*sites\/plant-1\/#|sites\/plant-1\/#[\s\S]*sensors\/sensor-01\/#/ }],
  ["npx warden topic rm 'sensors/sensor-01/#'", {}],
  ['npx warden user rm sensor-01', {}],
  ['npx warden session show warden-consumer #', { stdout: /warden-consumer/ }],
  ['npx warden session rm warden-dev-device-01 #', {
    // ended, and device-01 back with a new session
    check: async ({ startedAt }) => {
      await waitUntil(async () => {
        const s = await api('/api/v1/sessions/warden-dev-device-01')
        return s.connected === true && Date.parse(s.since ?? '') >= startedAt ? true : undefined
      }, 'warden-dev-device-01 connected again with a new session')
    }
  }],
  ['npx warden client kick warden-dev-device-02 #', {
    stdout: /^disconnected warden-dev-device-02 \(account device-02\)/,
    // and device-02 back on its session
    check: async ({ startedAt }) => {
      await waitUntil(async () => {
        const c = (await api('/api/v1/clients')).clients?.find((x) => x.clientId === 'warden-dev-device-02')
        return c !== undefined && Date.parse(c.connectedAt ?? '') >= startedAt ? true : undefined
      }, 'warden-dev-device-02 connected again')
    }
  }],
  ['npx warden status --json | jq .messages', { stdout: /^\{/ }],
  ['npx warden registry export > registry-export.json #', {
    check: async () => { expect(JSON.parse(await readFile(join(ROOT, 'registry-export.json'), 'utf8'))).toMatchObject({ kind: 'warden-registry' }) }
  }],
  ['npx warden registry import registry-export.json #', {}],
  // Control topic
  ["mosquitto_sub -u admin -P demo-admin -t '$CONTROL/warden/v1/response' &", {
    until: {
      stdout: /^\{"responses":\[\{"command":"createTopic","correlationData":"41","data":\{.*\{"command":"modifyTopic","correlationData":"42","data":\{/m,
      after: 'mosquitto_pub -u admin'
    }
  }],
  ["mosquitto_pub -u admin -P demo-admin -t '$CONTROL/warden/v1' -m", {
    check: async () => {
      const owners = async (): Promise<string | undefined> => (await api('/api/v1/topics/sites%2Fplant-2%2F%23')).owners?.join()
      await waitUntil(async () => await owners() === 'device-02,device-03' ? true : undefined, 'sites/plant-2/# owned by device-02 and device-03')
    }
  }],
  // The demo accounts
  ['npx warden passwd #', { stdin: 'a-new-password\n', stdout: /^scrypt\$16384\$8\$1\$[^$]+\$[^$\s]+$/m }],
  // Stop it
  ['npm stop', { check: async () => { expect(await d.apps()).toEqual([]) } }]
]

/** The commands not run here, by the start of their text, with the reason. */
const NOT_RUN: ReadonlyArray<readonly [string, string]> = [
  ['npm install && npm test', 'runs the whole suite, this file included'],
  ['WARDEN_INSTANCES=2 WARDEN_REDIS_URL=redis://127.0.0.1:6379 npm start',
    'needs a Redis; test/e2e/cluster-shipped-configs.test.ts runs it with the ports, the Redis URL, the roots and PM2_HOME moved'],
  ['mosquitto_sub -h 127.0.0.1 -u consumer -P demo-consumer -i worker-1',
    'consumer groups are not among the sections issue 18 item 5 names; groups run in test/integration/shared-*.test.ts'],
  ['mosquitto_sub -h 127.0.0.1 -u consumer -P demo-consumer -i worker-2', 'as worker-1'],
  ['WARDEN_CONSUMER_GROUP=workers npm start', 'needs a stack started without a group stopped first; test/e2e/shared-consumer-scale.test.ts runs it'],
  ['npx pm2 scale consumer 3', 'as above'],
  ['npx pm2 logs consumer --lines 0', 'as above'],
  ['mosquitto_sub -V mqttv5 -h 127.0.0.1 -u consumer -P demo-consumer -i ops-1',
    'MQTT 5 is not among the sections issue 18 item 5 names; test/integration/mqtt5-session-expiry.test.ts runs mosquitto_sub -V mqttv5 -c -x']
]

const ORDER = ['Run it', 'Watch it', 'Publish as a device', 'Control plane', 'The demo accounts', 'Stop it']

const commands = readmeCommands()
/** a spec's start, whitespace as one space (a trailing `#` or space included: `npx warden status #` is not `status --json`) */
const startOf = (s: string): string => s.replace(/\s+/g, ' ')
const specOf = (c: ReadmeCommand): readonly [string, Spec] | undefined => RUN.find(([start]) => normalized(c.text).startsWith(startOf(start)))
const listed = (c: ReadmeCommand): boolean => NOT_RUN.some(([start]) => normalized(c.text).startsWith(startOf(start)))
const toRun = commands
  .filter((c) => specOf(c) !== undefined)
  .sort((a, b) => ORDER.indexOf(a.section) - ORDER.indexOf(b.section))

let d: Deployment
let env: NodeJS.ProcessEnv
/** `export` lines of the section so far: a user's terminal keeps them for the section's next commands */
let exported: { section: string, lines: string[] } = { section: '', lines: [] }
const running = new Map<string, { child: ChildProcess, out: Ran, text: string }>()
let savedExport: string | undefined

interface Answer {
  owners?: string[], clients?: Array<{ username: string, clientId: string, connectedAt: string | null }>, connected?: boolean, since?: string
}

async function api (path: string): Promise<Answer> {
  const res = await fetch(`http://127.0.0.1:${env.WARDEN_HTTP_PORT ?? ''}${path}`, { headers: { authorization: basic('observer', 'demo-observer') } })
  return await res.json() as Answer
}

async function waitForClient (username: string): Promise<void> {
  await waitUntil(async () => (await api('/api/v1/clients')).clients?.some((c) => c.username === username) === true ? true : undefined, `${username} connected`)
}

function start (text: string, stdin?: string): { child: ChildProcess, out: Ran, done: Promise<Ran> } {
  const script = [...exported.lines, forAnotherCopy(text)].join('\n')
  // its own process group, so that the test can stop everything a pipeline or `npx` started
  const child = spawn('bash', ['-c', script], { cwd: ROOT, env, detached: true, stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] })
  const out: Ran = { code: null, stdout: '', stderr: '', startedAt: Date.now() }
  child.stdout?.on('data', (b: Buffer) => { out.stdout += b.toString() })
  child.stderr?.on('data', (b: Buffer) => { out.stderr += b.toString() })
  if (stdin !== undefined) child.stdin?.end(stdin)
  const done = new Promise<Ran>((resolve) => child.on('close', (code) => { out.code = code; resolve(out) }))
  return { child, out, done }
}

function stop (child: ChildProcess): void {
  // never kill(-0): that is the test's own process group
  if (child.pid === undefined) return
  try { process.kill(-child.pid, 'SIGTERM') } catch {}
}

async function settle (name: string): Promise<void> {
  const r = running.get(name)
  if (r === undefined) return
  running.delete(name)
  const spec = specOf({ section: '', text: r.text })?.[1]
  try {
    await waitUntil(() => spec?.until?.stdout.test(r.out.stdout) === true ? true : undefined, `${name}: ${String(spec?.until?.stdout)}`, 30_000)
  } catch (err) {
    throw new Error(`${(err as Error).message}\nstdout: ${r.out.stdout.slice(-2000)}\nstderr: ${r.out.stderr.slice(-2000)}`)
  } finally {
    stop(r.child)
  }
  if (spec?.until?.never !== undefined) expect(r.out.stdout, name).not.toMatch(spec.until.never)
}

beforeAll(async () => {
  d = await prepare({ shipped: true })
  const { PM2_DISCRETE_MODE: _banner, WARDEN_ADMIN_PASSWORD: _password, ...rest } = d.env
  // the CLI's documented variable for the broker's URL; everything else comes from prepare(): PM2_HOME, ports, roots
  env = { ...rest, WARDEN_URL: `http://127.0.0.1:${rest.WARDEN_HTTP_PORT ?? ''}` }
  const file = join(ROOT, 'registry-export.json')
  // `registry export > registry-export.json` writes in the checkout: a file of the user's is put back after
  if (existsSync(file)) savedExport = await readFile(file, 'utf8')
}, 60_000)

afterAll(async () => {
  for (const r of running.values()) stop(r.child)
  await d?.destroy()
  const file = join(ROOT, 'registry-export.json')
  if (savedExport !== undefined) await writeFile(file, savedExport)
  else await rm(file, { force: true })
}, 60_000)

describe('README.md', () => {
  it('lists each of its commands here, as run or not run with a reason', () => {
    expect(commands.filter((c) => specOf(c) === undefined && !listed(c)).map((c) => `${c.section}: ${c.text}`), 'commands neither run nor listed').toEqual([])
    const texts = commands.map((c) => normalized(c.text))
    const stale = [...RUN.map(([s]) => s), ...NOT_RUN.map(([s]) => s)].filter((s) => texts.filter((t) => t.startsWith(startOf(s))).length !== 1)
    expect(stale, 'specs matching no command, or several').toEqual([])
    expect(toRun.filter((c) => !ORDER.includes(c.section)).map((c) => c.section), 'sections without a place in ORDER').toEqual([])
  })

  it('moves ports only through the documented variables', () => {
    expect(toRun.map((c) => forAnotherCopy(c.text)).filter((t) => wellKnownPort(t) !== undefined)).toEqual([])
  })

  for (const c of toRun) {
    it(`${c.section}: ${c.text}`, async () => {
      const [start0, spec] = specOf(c) as readonly [string, Spec]
      if (exported.section !== c.section) exported = { section: c.section, lines: [] }
      const text = c.text.replace(/\s*&$/, '')
      if (spec.until !== undefined) {
        const { child, out } = start(text, spec.stdin)
        running.set(start0, { child, out, text: c.text })
        // long enough for a client to connect and subscribe before the next command publishes
        await new Promise((resolve) => setTimeout(resolve, 1000))
        if (spec.until.after === undefined) await settle(start0)
      } else {
        const { out, done, child } = start(text, spec.stdin)
        const timer = setTimeout(() => stop(child), 110_000)
        const res = await done.finally(() => clearTimeout(timer))
        const why = `exit ${String(res.code)}\nstdout: ${out.stdout.slice(-3000)}\nstderr: ${out.stderr.slice(-3000)}`
        expect(res.code, why).toBe(spec.code ?? 0)
        if (spec.stdout !== undefined) expect(res.stdout, why).toMatch(spec.stdout)
        await spec.check?.(res)
        if (/^export [A-Z_]+=\S+$/.test(c.text)) exported.lines.push(c.text)
      }
      for (const [name, r] of running) {
        const after = specOf({ section: '', text: r.text })?.[1].until?.after
        if (after !== undefined && normalized(c.text).includes(after)) await settle(name)
      }
    }, 120_000)
  }
})
