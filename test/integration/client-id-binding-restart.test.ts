// A client id's binding is stored with its session: it survives a SIGKILL and restart of a LevelDB broker.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { baseConfig, PASSWORD } from '../helpers/broker.js'
import { connackCode, connect, publish, subscribe } from '../helpers/mqtt.js'
import { startApp, type AppProcess } from '../helpers/process.js'

const done: Array<() => Promise<unknown>> = []
afterEach(async () => { for (const d of done.splice(0).reverse()) await d() })

async function startNode (dir: string): Promise<{ app: AppProcess, url: string }> {
  const app = startApp('broker', {
    WARDEN_CONFIG: join(dir, 'warden.yaml'), WARDEN_MQTT_PORT: '0', WARDEN_HTTP_PORT: '0', WARDEN_DATA_DIR: join(dir, 'data'), WARDEN_LOG_LEVEL: 'info'
  })
  done.push(() => app.stop('SIGKILL'))
  await app.ready()
  const line = await app.waitForLog((l) => l.msg === 'broker listening')
  return { app, url: `mqtt://127.0.0.1:${String(line.mqtt).split(':').pop() ?? ''}` }
}

it('holds after the broker process is SIGKILLed and restarted on its LevelDB store', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'warden-client-id-'))
  done.push(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'warden.yaml'), stringify({ ...(await baseConfig()), persistence: 'level' }))
  const first = await startNode(dir)
  const owner = await connect(first.url, 'sensor-1', { clientId: 'dev-k', clean: false })
  await subscribe(owner, 'devices/sensor-1/cmd/#', 1)
  await owner.end()
  const admin = await connect(first.url, 'admin')
  await publish(admin, 'devices/sensor-1/cmd/1', 'queued', { qos: 1 })
  await admin.end()
  await first.app.stop('SIGKILL')

  const second = await startNode(dir)
  const password = PASSWORD
  expect(await connackCode(second.url, { username: 'sensor-2', password, clientId: 'dev-k', clean: false })).toBe(2)
  expect(await connackCode(second.url, { username: 'sensor-2', password, clientId: 'dev-k', clean: true })).toBe(2)
  const back = await connect(second.url, 'sensor-1', { clientId: 'dev-k', clean: false })
  done.push(() => back.end())
  await back.waitFor((m) => m.payload === 'queued', 'the message queued before the crash')
})
