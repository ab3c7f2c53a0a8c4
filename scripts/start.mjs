#!/usr/bin/env node
// `npm start` after the build: starts the ecosystem's processes under pm2 and tells the truth about it. The
// broker first; the producer and consumer only once every broker process has said it is ready. When a
// process exits before it is ready, what this run started is removed again, the process's own error line
// (`warden: …` on its stderr) is printed, and the exit code is 1. A stack already running is left as it is.
// `--restart` (npm restart) removes the running processes first, so that changed settings apply; without it,
// a running stack's settings that differ from this environment's are named (settings-diff.mjs).
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import pm2 from 'pm2'
import { parse } from 'yaml'
import { settingsDiff } from './settings-diff.mjs'

// pm2's banner and daemon chatter would bury the one line this script has to say
process.env.PM2_DISCRETE_MODE ??= 'true'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const ECOSYSTEM = resolve(ROOT, 'ecosystem.config.js')
/** longer than the ecosystem's listen_timeout: a process that never says ready is a failure, not a start */
const READY_TIMEOUT_MS = Number(process.env.WARDEN_START_TIMEOUT_MS ?? 30_000)

const restart = process.argv.includes('--restart')

function fail (line) {
  process.stderr.write(`${line.startsWith('warden: ') ? line : `warden: ${line}`}\n`)
  process.exitCode = 1
}

let apps
try {
  apps = createRequire(import.meta.url)(ECOSYSTEM).apps
} catch (err) {
  // the ecosystem file checks its environment variables (WARDEN_INSTANCES, …) and names them
  fail(err.message)
  process.exit(1)
}

const call = (method, ...args) => new Promise((resolve, reject) => {
  pm2[method](...args, (err, res) => { if (err) reject(err instanceof Error ? err : new Error(String(err?.message ?? err))); else resolve(res) })
})

const instancesOf = (app) => app.instances ?? 1
const names = apps.map((a) => a.name)

/** the broker's processes and store, as it reads them: WARDEN_PERSISTENCE (cluster mode sets it), else its config file */
function brokerShape () {
  const app = apps.find((a) => a.name === 'broker')
  const n = instancesOf(app ?? {})
  let store = app?.env?.WARDEN_PERSISTENCE ?? process.env.WARDEN_PERSISTENCE
  if (store === undefined || store === '') {
    try { store = parse(readFileSync(resolve(ROOT, app?.env?.WARDEN_CONFIG ?? ''), 'utf8'))?.persistence } catch {}
  }
  return `broker: ${n === 1 ? '1 process' : `${n} workers`}, persistence: ${store ?? 'level'}`
}

/** Starts `only` (names) and waits until each of their processes said ready, or one of them exited. */
async function startAndWait (bus, only) {
  const want = apps.filter((a) => only.includes(a.name)).reduce((n, a) => n + instancesOf(a), 0)
  const ready = new Set()
  const stderr = new Map(only.map((n) => [n, []]))
  /** the message of a fatal JSON log line on stdout, for a process that printed no `warden: …` line */
  const fatal = new Map()
  let onEvent = () => {}
  const outcome = new Promise((resolve) => { onEvent = resolve })
  const mine = (p) => p?.process !== undefined && only.includes(p.process.name)
  const handlers = {
    'process:msg': (p) => {
      if (!mine(p) || p.raw !== 'ready') return
      ready.add(p.process.pm_id)
      if (ready.size >= want) onEvent({ ok: true })
    },
    'process:event': (p) => {
      if (mine(p) && (p.event === 'exit' || p.event === 'stop')) onEvent({ ok: false, name: p.process.name, code: p.process.exit_code })
    },
    'log:err': (p) => {
      if (!mine(p)) return
      const lines = String(p.data).split('\n').filter((l) => l.trim() !== '')
      stderr.get(p.process.name)?.push(...lines)
      if (lines.some((l) => l.includes('warden: '))) onErrorLine()
    },
    'log:out': (p) => {
      if (!mine(p)) return
      for (const l of String(p.data).split('\n')) {
        if (!l.startsWith('{') || !l.includes('"level":60')) continue
        try { fatal.set(p.process.name, JSON.parse(l).msg) } catch {}
      }
    }
  }
  let onErrorLine = () => {}
  const errorLine = new Promise((resolve) => { onErrorLine = resolve })
  for (const [ev, h] of Object.entries(handlers)) bus.on(ev, h)
  const timer = setTimeout(() => onEvent({ ok: false, timeout: true }), READY_TIMEOUT_MS)
  try {
    const started = call('start', ECOSYSTEM, { only: only.join(','), updateEnv: true }).catch((err) => ({ error: err }))
    const res = await outcome
    const s = await started
    if (res.ok && s?.error !== undefined) return { ok: false, line: s.error.message }
    if (res.ok) return { ok: true }
    // the process's stderr and its exit reach the bus by different paths: give the line a moment to arrive
    await Promise.race([errorLine, new Promise((resolve) => setTimeout(resolve, 1000))])
    // the process's own account of what went wrong: its `warden: …` line, or else its last stderr line
    const lines = stderr.get(res.name ?? only[0]) ?? []
    // a line of the log may carry pm2's prefix (date, name): keep what follows `warden: `
    const own = [...lines].reverse().map((l) => l.slice(Math.max(0, l.indexOf('warden: ')))).find((l) => l.startsWith('warden: '))
    if (res.timeout) {
      const ownWhy = own !== undefined ? `; ${own.slice(8)}` : ''
      return { ok: false, line: `${only.join(', ')} did not become ready within ${READY_TIMEOUT_MS / 1000} s${ownWhy} (npx pm2 logs ${only[0]})` }
    }
    const why = fatal.get(res.name) ?? lines.at(-1)
    return { ok: false, line: own ?? `${res.name} exited before it was ready${why !== undefined ? `: ${why}` : ''} (npx pm2 logs ${res.name})` }
  } finally {
    clearTimeout(timer)
    for (const [ev, h] of Object.entries(handlers)) bus.off(ev, h)
  }
}

/**
 * Removes every process of these names, and checks that they stay removed: pm2 can relaunch a crashed process
 * from a restart timer that fires while the delete is under way (its stop waits for a launching process).
 */
async function removeAll (which) {
  const deadline = Date.now() + 20_000
  let quietSince = Date.now()
  while (Date.now() < deadline) {
    const left = (await call('list')).filter((p) => which.includes(p.name))
    if (left.length === 0) {
      if (Date.now() - quietSince >= 1500) return
    } else {
      // a process still launching is left for the next round: stopped now, pm2 would mark it online
      // afterwards and restart it when it exits
      for (const p of left) if (p.pm2_env.status !== 'launching') await call('delete', p.pm_id).catch(() => {})
      quietSince = Date.now()
    }
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  process.stderr.write(`warden: could not remove ${which.join(', ')} from pm2: run \`npm stop\`\n`)
}

async function main () {
  await call('connect')
  try {
    let running = (await call('list')).filter((p) => names.includes(p.name))
    const restarting = restart && running.length > 0
    if (restarting) {
      for (const name of new Set(running.map((p) => p.name))) await call('delete', name)
      running = []
    }
    const online = (name) => {
      const ps = running.filter((p) => p.name === name)
      return ps.length > 0 && ps.every((p) => p.pm2_env.status === 'online')
    }
    const toStart = names.filter((n) => !online(n))
    if (toStart.length === 0) {
      // said, not applied: applying means deleting and starting the processes again, which disconnects every
      // client and may move the broker to another store; `npm start` on a running stack promises neither
      const differ = settingsDiff(apps, running, process.env)
      process.stdout.write(`warden: already running (${names.join(', ')} online); nothing changed. ` + (differ.length === 0
        ? 'It runs with the settings of this environment. `npm restart` restarts it, `npm stop` stops it.\n'
        : `These settings differ from the running stack and are not applied: ${differ.join('; ')}. ` +
          'To apply them: `npm restart` (with the same environment), or `npm stop && npm start`; every process restarts and clients reconnect.\n'))
      return
    }
    // left over from an earlier failed start, or stopped by hand: started anew
    for (const name of toStart) if (running.some((p) => p.name === name)) await call('delete', name)

    const bus = await call('launchBus')
    const started = []
    const steps = [toStart.filter((n) => n === 'broker'), toStart.filter((n) => n !== 'broker')].filter((s) => s.length > 0)
    for (const step of steps) {
      const res = await startAndWait(bus, step)
      started.push(...step)
      if (!res.ok) {
        // stop what this run started, so that nothing is left crash-looping
        await removeAll(started)
        fail(res.line)
        return
      }
    }
    const env = process.env
    const shape = toStart.includes('broker') ? `, ${brokerShape()}` : ''
    process.stdout.write(`warden: ${restarting ? 'restarted' : 'started'} ${toStart.join(', ')} (MQTT on port ${env.WARDEN_MQTT_PORT ?? '1883'}, ` +
      `dashboard on http://127.0.0.1:${env.WARDEN_HTTP_PORT ?? '8080'}/${shape}); ` +
      '`npx pm2 list` shows them, `npx pm2 logs` follows their logs, `npm stop` stops them.\n')
  } finally {
    pm2.disconnect()
  }
}

main().catch((err) => { fail(err.message); pm2.disconnect() })
