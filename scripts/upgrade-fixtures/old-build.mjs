// What the upgrade scripts share: the old build's checkout checked and its broker process started, a private
// redis-server, MQTT.js and API calls with the test accounts' password. Every process started is stopped by
// its caller, by PID.
import { spawn, execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join, resolve } from 'node:path'
import mqtt from 'mqtt'

export const COMMIT = 'f689a38'
/** the test accounts' password (test/helpers/broker.ts PASSWORD) */
export const PASSWORD = 'test-secret'

/** the old build's checkout, refused unless it is COMMIT with aedes 1.2.0, and its password hashing */
export async function openOldBuild (old) {
  if (old === undefined) {
    process.stderr.write('usage: node <script> <built checkout of f689a38>\n')
    process.exit(2)
  }
  const head = execFileSync('git', ['-C', old, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim()
  const aedesVersion = JSON.parse(await readFile(join(old, 'node_modules/aedes/package.json'), 'utf8')).version
  if (!head.startsWith(COMMIT) || aedesVersion !== '1.2.0') {
    process.stderr.write(`${old} is at ${head} with aedes ${aedesVersion}: check out ${COMMIT} (aedes 1.2.0), npm install, npm run build\n`)
    process.exit(2)
  }
  const { hashPassword } = await import(join(resolve(old), 'apps/broker/dist/auth/password.js'))
  return { path: resolve(old), head, aedesVersion, hashPassword }
}

export async function freePort () {
  const s = createServer()
  s.listen(0, '127.0.0.1')
  await once(s, 'listening')
  const { port } = s.address()
  s.close()
  await once(s, 'close')
  return port
}

/** test/helpers/broker.ts baseConfig(), with hashes made by the old build and sessions that never expire */
export async function configFor (hashPassword, dataDir, redisUrl, extra = {}) {
  const passwordHash = await hashPassword(PASSWORD, { N: 1024, r: 8, p: 1 })
  const user = (username, roles) => ({ username, passwordHash, roles })
  return {
    mqtt: { port: 0, host: '127.0.0.1' },
    http: { port: 0, host: '127.0.0.1' },
    dataDir,
    persistence: redisUrl === undefined ? 'level' : 'redis',
    ...(redisUrl !== undefined ? { redis: { url: redisUrl } } : {}),
    anonymous: false,
    unregisteredTopics: 'deny',
    deniedPublish: 'drop',
    log: { level: 'info' },
    sessions: { expiryMs: 0 },
    roles: {
      producer: { subscribe: ['devices/{username}/cmd/#'] },
      consumer: { subscribe: ['sensors/#'] },
      observer: { subscribe: ['#', '$SYS/#'] },
      admin: {}
    },
    users: [
      user('sensor-1', ['producer']), user('sensor-2', ['producer']), user('dashboard', ['consumer']),
      user('observer', ['observer']), user('admin', ['admin'])
    ],
    topics: [
      { filter: 'sensors/sensor-1/#', owners: ['sensor-1'] },
      { filter: 'sensors/sensor-2/#', owners: ['sensor-2'] },
      { filter: 'sensors/shared/#', owners: ['sensor-1', 'sensor-2'] },
      { filter: 'devices/{username}/telemetry', owners: ['{username}'] },
      { filter: 'devices/{username}/cmd/#', owners: ['admin'] },
      { filter: 'private/#', owners: ['sensor-1'] }
    ],
    ...extra
  }
}

/** the broker process of `checkout` (dist/main.js) on `configFile`; `logLine(msg)` resolves with that log line */
export function startBrokerOf (checkout, configFile) {
  const child = spawn(process.execPath, [join(checkout, 'apps/broker/dist/main.js')], {
    cwd: checkout, env: { ...process.env, WARDEN_CONFIG: configFile }, stdio: ['ignore', 'pipe', 'pipe', 'ipc']
  })
  const lines = []
  let buf = ''
  const seen = new Map()
  const waiting = []
  const onData = (d) => {
    buf += d.toString()
    let i
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i)
      buf = buf.slice(i + 1)
      lines.push(line)
      let l
      try { l = JSON.parse(line) } catch { continue }
      seen.set(l.msg, l)
      for (const w of waiting.splice(0)) { if (seen.has(w.msg)) w.resolve(seen.get(w.msg)); else waiting.push(w) }
    }
  }
  child.stdout.on('data', onData)
  child.stderr.on('data', onData)
  const exited = once(child, 'exit')
  const logLine = (msg) => seen.has(msg)
    ? Promise.resolve(seen.get(msg))
    : new Promise((resolve, reject) => {
      waiting.push({ msg, resolve })
      exited.then(() => reject(new Error(`broker of ${checkout} exited:\n${lines.join('\n')}`)))
    })
  return { child, exited, logLine, lines }
}

export const connectClient = (url, username, opts) => new Promise((resolve, reject) => {
  const c = mqtt.connect(url, { username, password: PASSWORD, reconnectPeriod: 0, ...opts })
  c.once('connect', (ack) => { c.connack = ack; resolve(c) })
  c.once('error', reject)
})
export const subscribe = (c, filter, qos) => new Promise((resolve, reject) => {
  c.subscribe(filter, { qos }, (err, granted) => {
    if (err) reject(err)
    else if (granted[0].qos !== qos) reject(new Error(`${filter}: SUBACK ${granted[0].qos}`))
    else resolve()
  })
})
export const publish = (c, topic, payload, opts) => new Promise((resolve, reject) => c.publish(topic, payload, opts, (err) => err ? reject(err) : resolve()))
export const end = (c) => new Promise((resolve) => c.end(false, {}, () => resolve()))

export async function api (http, method, path, body) {
  const res = await fetch(`http://${http}${path}`, {
    method,
    headers: { authorization: `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}`, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {})
  })
  const text = await res.text()
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`)
}

export async function startRedis (dir) {
  const port = await freePort()
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--dbfilename', 'dump.rdb',
    '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => { out += d; if (out.includes('Ready to accept connections')) resolve() })
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${out}`)))
  })
  return { port, child, url: `redis://127.0.0.1:${port}` }
}
