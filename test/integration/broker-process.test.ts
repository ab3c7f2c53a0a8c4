// The broker as pm2 runs it: dist/main.js, configured by WARDEN_CONFIG and env, 'ready' once listening,
// graceful exit on SIGTERM, a clear error and non-zero exit on a bad config.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type AddressInfo, type Server } from 'node:net'
import { once } from 'node:events'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { baseConfig } from '../helpers/broker.js'
import { connect, publish, subscribe } from '../helpers/mqtt.js'
import { startApp, type AppProcess } from '../helpers/process.js'

let dir: string
const apps: AppProcess[] = []
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'warden-proc-')) })
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.stop('SIGKILL')))
  await rm(dir, { recursive: true, force: true })
})

async function writeConfig (name: string, data: unknown): Promise<string> {
  const file = join(dir, name)
  await writeFile(file, typeof data === 'string' ? data : stringify(data))
  return file
}

function broker (config: string, extra: Record<string, string> = {}): AppProcess {
  const app = startApp('broker', {
    WARDEN_CONFIG: config, WARDEN_MQTT_PORT: '0', WARDEN_HTTP_PORT: '0', WARDEN_DATA_DIR: join(dir, 'data'), WARDEN_LOG_LEVEL: 'info', ...extra
  })
  apps.push(app)
  return app
}

async function listeningPort (app: AppProcess): Promise<number> {
  const line = await app.waitForLog((l) => l.msg === 'broker listening')
  return Number(String(line.mqtt).split(':').pop())
}

it('signals ready once listening, serves MQTT, and exits 0 on SIGTERM after closing clients', async () => {
  const cfg = await baseConfig()
  const app = broker(await writeConfig('warden.yaml', { ...cfg, log: { level: 'info' } }))
  await app.ready()
  const port = await listeningPort(app)
  const sub = await connect(`mqtt://127.0.0.1:${port}`, 'observer')
  await subscribe(sub, 'sensors/#', 1)
  const pub = await connect(`mqtt://127.0.0.1:${port}`, 'sensor-1')
  await publish(pub, 'sensors/sensor-1/x', 'hello', { qos: 1 })
  await sub.waitFor((m) => m.payload === 'hello')
  const exit = await app.stop('SIGTERM')
  expect(exit.code).toBe(0)
  await sub.closed()
  await Promise.all([sub.end(), pub.end()])
  expect(app.output.some((l) => l.includes('"msg":"stopped"'))).toBe(true)
})

it.each([
  ['an unknown key', { unregisteredTopic: 'deny' }, /unregisteredTopic: is not a known setting/],
  ['a bad enum', { deniedPublish: 'ignore' }, /deniedPublish: must be one of "drop", "disconnect"/],
  ['an undefined role', { users: [{ username: 'u', password: 'p', roles: ['pilot'] }] }, /users\[0\]\.roles\[0\]: role "pilot" is not defined/],
  ['a bad filter', { topics: [{ filter: 'a/#/b', owners: ['u'] }] }, /topics\[0\]\.filter: "a\/#\/b" '#' must be a whole level and the last one/]
])('refuses to start with %s, naming the key, and exits non-zero', async (_what, bad, message) => {
  const app = broker(await writeConfig('bad.yaml', { ...(await baseConfig()), ...bad }))
  const line = await app.waitForLog((l) => l.level === 60)
  expect(String(line.msg)).toMatch(message)
  expect((await app.exited()).code).toBe(1)
  expect(app.stderr).toEqual([`warden: ${String(line.msg)}`])
})

describe('fatal start-up errors: exit 1 and one plain line on stderr naming the key', () => {
  it('refuses to start without WARDEN_CONFIG', async () => {
    const app = broker('')
    expect((await app.exited()).code).toBe(1)
    expect(app.stderr).toEqual(['warden: no configuration: set WARDEN_CONFIG to a config file (config/warden.yaml is the example `npm start` uses)'])
  })

  it('refuses an empty config file', async () => {
    const file = await writeConfig('empty.yaml', '')
    const app = broker(file)
    expect((await app.exited()).code).toBe(1)
    expect(app.stderr).toEqual([`warden: config file ${file} is empty: it needs at least users (or anonymous) and topics; see config/warden.yaml`])
  })

  it('names a bad mqtt.port of the file even with WARDEN_MQTT_PORT set', async () => {
    const file = await writeConfig('hidden.yaml', { ...(await baseConfig()), mqtt: { port: 'abc', host: '127.0.0.1' } })
    const app = broker(file)
    expect((await app.exited()).code).toBe(1)
    expect(app.stderr).toEqual([`warden: invalid config in ${file}: mqtt.port: must be integer`])
  })

  it.each(['mqtt', 'http'] as const)('names %s.port when its port is taken', async (listener) => {
    const holder = await holdPort()
    try {
      const port = String((holder.address() as AddressInfo).port)
      const app = broker(await writeConfig('ok.yaml', await baseConfig()), listener === 'mqtt' ? { WARDEN_MQTT_PORT: port } : { WARDEN_HTTP_PORT: port })
      expect((await app.exited()).code).toBe(1)
      const env = listener === 'mqtt' ? 'WARDEN_MQTT_PORT' : 'WARDEN_HTTP_PORT'
      expect(app.stderr)
        .toEqual([`warden: cannot listen on 127.0.0.1:${port} (${listener}.port): address in use (another broker running? set ${env} or ${listener}.port)`])
    } finally {
      await new Promise((resolve) => holder.close(resolve))
    }
  })
})

async function holdPort (): Promise<Server> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return server
}

it('names the environment variable when an override is wrong', async () => {
  const app = broker(await writeConfig('ok.yaml', await baseConfig()), { WARDEN_MQTT_PORT: 'eighteen' })
  const line = await app.waitForLog((l) => l.level === 60)
  expect(String(line.msg)).toMatch(/WARDEN_MQTT_PORT: must be a port number/)
  expect((await app.exited()).code).toBe(1)
})

it('warns about plain-text demo passwords without logging them', async () => {
  const app = broker(await writeConfig('demo.yaml', { ...(await baseConfig()), users: [{ username: 'demo', password: 'hunter2', roles: ['consumer'] }] }))
  await app.ready()
  const warn = await app.waitForLog((l) => l.level === 40)
  expect(String(warn.msg)).toMatch(/plain-text passwords/)
  expect(app.output.join('\n')).not.toContain('hunter2')
})
