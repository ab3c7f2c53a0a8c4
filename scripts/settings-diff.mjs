// What `npm start` would run differently from the stack pm2 runs now: the WARDEN_* environment each process
// would get, and the instance counts. pm2 keeps a process's environment from its start until it is deleted,
// so on a running stack these are the settings `npm start` cannot apply without restarting it.

/** read by the `warden` CLI or by start.mjs itself, never by a process pm2 runs */
const NOT_PROCESS_SETTINGS = new Set(['WARDEN_URL', 'WARDEN_ADMIN_USER', 'WARDEN_ADMIN_PASSWORD', 'WARDEN_START_TIMEOUT_MS'])
const SECRET = /PASSWORD|SECRET|TOKEN|KEY/

const settingsOf = (env) => Object.fromEntries(Object.entries(env ?? {})
  .filter(([k, v]) => k.startsWith('WARDEN_') && !NOT_PROCESS_SETTINGS.has(k) && v !== undefined && v !== ''))

function shown (name, value) {
  if (value === undefined) return 'unset'
  if (SECRET.test(name)) return '(hidden)'
  // a Redis URL may hold a password
  return JSON.stringify(String(value).replace(/\/\/[^@/]*@/, '//***@'))
}

/**
 * `apps`: the ecosystem's apps as this environment makes them; `running`: pm2's list; `env`: this process's
 * environment (pm2 hands it to the processes it starts, under the ecosystem's own `env` of each app).
 * Returns one line per difference, e.g. `WARDEN_INSTANCES: unset → "2"` or `broker: 1 instance → 2`.
 */
export function settingsDiff (apps, running, env) {
  const changes = new Map()
  const counts = []
  for (const app of apps) {
    const procs = running.filter((p) => p.name === app.name)
    if (procs.length === 0) continue
    const want = app.instances ?? 1
    if (procs.length !== want) counts.push(`${app.name}: ${procs.length} instance${procs.length === 1 ? '' : 's'} → ${want}`)
    const next = { ...settingsOf(env), ...settingsOf(app.env) }
    for (const p of procs) {
      const now = settingsOf(p.pm2_env?.env ?? p.pm2_env)
      for (const name of new Set([...Object.keys(next), ...Object.keys(now)])) {
        if (now[name] !== next[name] && !changes.has(name)) changes.set(name, `${name}: ${shown(name, now[name])} → ${shown(name, next[name])}`)
      }
    }
  }
  return [...counts, ...[...changes.keys()].sort().map((k) => changes.get(k))]
}
