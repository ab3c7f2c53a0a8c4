// Writes test/fixtures/upgrade-from-aedes-1.2/: what the last Warden on aedes 1.2 (f689a38) leaves in its
// stores — LevelDB data dirs and Redis dumps — for test/integration/upgrade-from-aedes-1.2.test.ts to start the
// current build on. Run once, from this checkout, with a built checkout of that commit (see README.md here):
//   node scripts/upgrade-fixtures/make.mjs /work/wt-old
// It starts the old broker process (and, for Redis, a private redis-server) on free loopback ports, stops each by
// PID, and writes only under the fixture directory.
import { execFileSync } from 'node:child_process'
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { connect as netConnect } from 'node:net'
import { once } from 'node:events'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import mqttPacket from 'mqtt-packet'
import { Redis } from 'ioredis'
import { api, configFor, connectClient, end, openOldBuild, PASSWORD, publish, startBrokerOf, startRedis, subscribe } from './old-build.mjs'

const ROOT = resolve(import.meta.dirname, '../..')
const OUT = join(ROOT, 'test/fixtures/upgrade-from-aedes-1.2')
/** the account made at run time */
const RUNTIME_PASSWORD = 'upgrade-pass-1'

const old = await openOldBuild(process.argv[2])

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

async function make (name, { redis: useRedis, killed }) {
  const work = await mkdtemp(join(tmpdir(), 'warden-upgrade-fixture-'))
  const dataDir = join(work, 'data')
  let redis
  try {
    if (useRedis) { await mkdir(join(work, 'redis')); redis = await startRedis(join(work, 'redis')) }
    const configFile = join(work, 'warden.json')
    await writeFile(configFile, JSON.stringify(await configFor(old.hashPassword, dataDir, redis?.url)))
    const b = startBrokerOf(old.path, configFile)
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
const madeBy = { commit: old.head, aedes: old.aedesVersion, node: process.version, redis: redisVersion }
await writeFile(join(OUT, 'made-by.json'), JSON.stringify(madeBy, null, 2) + '\n')
