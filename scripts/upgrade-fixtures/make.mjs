// Writes test/fixtures/upgrade-from-aedes-1.2/: what the last Warden on aedes 1.2 (f689a38) leaves in its
// stores — LevelDB data dirs and Redis dumps — for test/integration/upgrade-from-aedes-1.2.test.ts to start the
// current build on. Run once, from this checkout, with a built checkout of that commit (see README.md here):
//   node scripts/upgrade-fixtures/make.mjs /work/wt-old
// It starts the old broker process (and, for Redis, a private redis-server) on free loopback ports, stops each by
// PID, and writes only under the fixture directory.
import { spawn, execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, connect as netConnect } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import mqtt from 'mqtt'
import mqttPacket from 'mqtt-packet'
import { Redis } from 'ioredis'

const ROOT = resolve(import.meta.dirname, '../..')
const OUT = join(ROOT, 'test/fixtures/upgrade-from-aedes-1.2')
const COMMIT = 'f689a38'
/** the test accounts' password (test/helpers/broker.ts PASSWORD), and the run-time account's */
const PASSWORD = 'test-secret'
export const RUNTIME_PASSWORD = 'upgrade-pass-1'

const old = process.argv[2]
if (old === undefined) {
  process.stderr.write('usage: node scripts/upgrade-fixtures/make.mjs <built checkout of f689a38>\n')
  process.exit(2)
}
const head = execFileSync('git', ['-C', old, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim()
const aedesVersion = JSON.parse(await readFile(join(old, 'node_modules/aedes/package.json'), 'utf8')).version
if (!head.startsWith(COMMIT) || aedesVersion !== '1.2.0') {
  process.stderr.write(`${old} is at ${head} with aedes ${aedesVersion}: check out ${COMMIT} (aedes 1.2.0), npm install, npm run build\n`)
  process.exit(2)
}
const { hashPassword } = await import(join(resolve(old), 'apps/broker/dist/auth/password.js'))

async function freePort () {
  const s = createServer()
  s.listen(0, '127.0.0.1')
  await once(s, 'listening')
  const { port } = s.address()
  s.close()
  await once(s, 'close')
  return port
}

/** test/helpers/broker.ts baseConfig(), with hashes made by the old build and sessions that never expire */
async function configFor (dataDir, redisUrl) {
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
    ]
  }
}

function startOldBroker (configFile) {
  const child = spawn(process.execPath, [join(old, 'apps/broker/dist/main.js')], {
    cwd: old, env: { ...process.env, WARDEN_CONFIG: configFile }, stdio: ['ignore', 'pipe', 'pipe', 'ipc']
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
      exited.then(() => reject(new Error(`old broker exited:\n${lines.join('\n')}`)))
    })
  return { child, exited, logLine }
}

const connectClient = (url, username, opts) => new Promise((resolve, reject) => {
  const c = mqtt.connect(url, { username, password: PASSWORD, reconnectPeriod: 0, ...opts })
  c.once('connect', () => resolve(c))
  c.once('error', reject)
})
const subscribe = (c, filter, qos) => new Promise((resolve, reject) => {
  c.subscribe(filter, { qos }, (err, granted) => {
    if (err) reject(err)
    else if (granted[0].qos !== qos) reject(new Error(`${filter}: SUBACK ${granted[0].qos}`))
    else resolve()
  })
})
const publish = (c, topic, payload, opts) => new Promise((resolve, reject) => c.publish(topic, payload, opts, (err) => err ? reject(err) : resolve()))
const end = (c) => new Promise((resolve) => c.end(false, {}, () => resolve()))

async function api (http, method, path, body) {
  const res = await fetch(`http://${http}${path}`, {
    method,
    headers: { authorization: `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}`, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {})
  })
  const text = await res.text()
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`)
}

/** A QoS 2 PUBLISH answered with PUBREC, then the socket dropped without PUBREL: in flight across the upgrade. */
async function publishInFlight (port) {
  const socket = netConnect({ port, host: '127.0.0.1' })
  const parser = mqttPacket.parser({ protocolVersion: 4 })
  const got = []
  let wake = () => {}
  parser.on('packet', (p) => { got.push(p); wake() })
  socket.on('data', (d) => parser.parse(d))
  await once(socket, 'connect')
  const next = async (cmd) => {
    for (;;) {
      const p = got.find((x) => x.cmd === cmd)
      if (p !== undefined) return p
      await new Promise((resolve) => { wake = resolve })
    }
  }
  const send = (p) => socket.write(mqttPacket.generate(p, { protocolVersion: 4 }))
  send({
    cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: false, keepalive: 30,
    clientId: 'upg-inflight', username: 'sensor-1', password: Buffer.from(PASSWORD)
  })
  if ((await next('connack')).returnCode !== 0) throw new Error('upg-inflight: CONNACK refused')
  send({ cmd: 'publish', topic: 'sensors/shared/inflight', payload: Buffer.from('inflight-1'), qos: 2, messageId: 7, retain: false, dup: false })
  await next('pubrec')
  socket.destroy()
}

/** What every fixture holds; test/integration/upgrade-from-aedes-1.2.test.ts checks each item. */
async function scenario (url, http, port, { killed }) {
  // the registry changed at run time: an account and its topic added, an account of the config file deleted
  await api(http, 'POST', '/api/v1/users', { username: 'upgraded-1', password: RUNTIME_PASSWORD, roles: ['producer'] })
  await api(http, 'POST', '/api/v1/topics', { filter: 'upgraded/upgraded-1/#', owners: ['upgraded-1'] })

  // persistent sessions, gone while messages are published for them
  for (const clientId of ['upg-v3', 'upg-v5']) {
    const c = await connectClient(url, 'dashboard', { clientId, clean: false })
    await subscribe(c, 'sensors/sensor-1/#', 1)
    await subscribe(c, 'sensors/shared/#', 2)
    await end(c)
  }
  const member = await connectClient(url, 'dashboard', { clientId: 'upg-grp', clean: false })
  await subscribe(member, '$share/upg/sensors/sensor-1/#', 1)
  await end(member)
  const obs = await connectClient(url, 'observer', { clientId: 'upg-obs', clean: false })
  await subscribe(obs, 'private/will', 1)
  await end(obs)

  const s2 = await connectClient(url, 'sensor-2', { clientId: 'upg-s2' })
  await publish(s2, 'sensors/sensor-2/state', 'retained-2', { qos: 1, retain: true })
  await end(s2)
  await api(http, 'DELETE', '/api/v1/users/sensor-2')
  const up = await connectClient(url, 'upgraded-1', { clientId: 'upg-up', password: RUNTIME_PASSWORD })
  await publish(up, 'upgraded/upgraded-1/state', 'retained-up', { qos: 1, retain: true })
  await end(up)

  const pub = await connectClient(url, 'sensor-1', { clientId: 'upg-pub' })
  await publish(pub, 'private/state', 'retained-1', { qos: 1, retain: true })
  for (let i = 1; i <= 3; i++) await publish(pub, 'sensors/sensor-1/q1', `q1-${i}`, { qos: 1 })
  for (let i = 1; i <= 3; i++) await publish(pub, 'sensors/shared/q2', `q2-${i}`, { qos: 2 })
  await end(pub)
  await publishInFlight(port)
  // a client connected when the broker dies: its will is the next broker's to publish
  if (killed) await connectClient(url, 'sensor-1', { clientId: 'upg-will', will: { topic: 'private/will', payload: 'will-1', qos: 1, retain: false } })
}

async function startRedis (dir) {
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

async function make (name, { redis: useRedis, killed }) {
  const work = await mkdtemp(join(tmpdir(), 'warden-upgrade-fixture-'))
  const dataDir = join(work, 'data')
  let redis
  try {
    if (useRedis) { await mkdir(join(work, 'redis')); redis = await startRedis(join(work, 'redis')) }
    const configFile = join(work, 'warden.json')
    await writeFile(configFile, JSON.stringify(await configFor(dataDir, redis?.url)))
    const b = startOldBroker(configFile)
    try {
      const listening = await b.logLine('broker listening')
      const { http } = await b.logLine('control plane listening')
      const port = Number(String(listening.mqtt).split(':').pop())
      await scenario(`mqtt://127.0.0.1:${port}`, http, port, { killed })
    } finally {
      b.child.kill(killed ? 'SIGKILL' : 'SIGTERM')
      await b.exited
    }
    const dest = join(OUT, name)
    await rm(dest, { recursive: true, force: true })
    await mkdir(dest, { recursive: true })
    if (useRedis) {
      const r = new Redis(redis.url)
      try { await r.save() } finally { r.disconnect() }
      await cp(join(work, 'redis', 'dump.rdb'), join(dest, 'dump.rdb'))
    } else {
      // LevelDB's LOG files are its diagnostics, not data
      await cp(dataDir, join(dest, 'dataDir'), { recursive: true, filter: (src) => !/\/LOG(\.old)?$/.test(src) })
    }
  } finally {
    if (redis !== undefined && redis.child.exitCode === null) { redis.child.kill('SIGTERM'); await once(redis.child, 'exit') }
    await rm(work, { recursive: true, force: true })
  }
}

const variants = {
  level: { redis: false, killed: false },
  'level-killed': { redis: false, killed: true },
  redis: { redis: true, killed: false },
  'redis-killed': { redis: true, killed: true }
}
for (const [name, v] of Object.entries(variants)) {
  await make(name, v)
  process.stdout.write(`wrote ${join(OUT, name)}\n`)
}
const redisVersion = execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).trim()
await writeFile(join(OUT, 'made-by.json'), JSON.stringify({ commit: head, aedes: aedesVersion, node: process.version, redis: redisVersion }, null, 2) + '\n')
