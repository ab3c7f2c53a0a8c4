// The consumer process writes each message to stdout (pm2's log, never rotated) only when asked: by default
// its log has the summary lines, and the messages go to the rotated file alone.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, expect, it } from 'vitest'
import { PASSWORD } from '../helpers/broker.js'
import { publish } from '../helpers/mqtt.js'
import { startApp, type AppProcess } from '../helpers/process.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
let dir: string
let consumer: AppProcess | undefined
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'warden-consumer-out-')) })
afterEach(async () => {
  await consumer?.stop()
  consumer = undefined
  await rm(dir, { recursive: true, force: true })
})

/** runs the built consumer on the test broker, publishes one message and resolves once a summary counted it */
async function consumeOne (env: Record<string, string>, output = ''): Promise<AppProcess> {
  const tb = await scope.start()
  const config = join(dir, 'consumer.yaml')
  await writeFile(config, [
    `broker: { url: "${tb.url}" }`, 'username: dashboard', `password: ${PASSWORD}`, 'clientId: out-test',
    'subscriptions: ["sensors/#"]', `output: { file: ${join(dir, 'messages.log')}${output} }`, 'summaryIntervalMs: 100'
  ].join('\n'))
  consumer = startApp('consumer', { WARDEN_CONFIG: config, WARDEN_LOG_LEVEL: 'info', ...env })
  await consumer.ready()
  const s1 = await scope.client('sensor-1')
  await publish(s1, 'sensors/sensor-1/temp', '{"c":21}', { qos: 1 })
  await consumer.waitForLog((l) => l.msg === 'summary' && (l.received as number) >= 1)
  return consumer
}

const messageLines = (app: AppProcess): string[] => app.output.filter((l) => l.includes('"topic":"sensors/sensor-1/temp"'))

it('keeps messages out of stdout by default: summaries there, every message in the file', async () => {
  const app = await consumeOne({})
  expect(messageLines(app)).toEqual([])
  await app.stop()
  expect(await readFile(join(dir, 'messages.log'), 'utf8')).toMatch(/"topic":"sensors\/sensor-1\/temp"/)
})

it('writes each message to stdout too with WARDEN_CONSUMER_STDOUT=true, whatever the file says', async () => {
  const app = await consumeOne({ WARDEN_CONSUMER_STDOUT: 'true' }, ', stdout: false')
  expect(messageLines(app)).toHaveLength(1)
  expect(JSON.parse(messageLines(app)[0] as string)).toMatchObject({ topic: 'sensors/sensor-1/temp', payload: { c: 21 } })
})
