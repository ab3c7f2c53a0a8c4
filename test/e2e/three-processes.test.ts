// The whole system as users run it: `pm2 start ecosystem.config.js` with the broker, the device fleet and the
// consumer, watched with mosquitto_sub, through a broker restart. Private PM2_HOME, free ports, own dirs.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { deploy, type Deployment } from '../helpers/pm2.js'
import { waitUntil } from '../helpers/ports.js'
import { mosquittoSub } from '../helpers/mosquitto.js'

const run = promisify(execFile)
let d: Deployment

beforeAll(async () => { d = await deploy({ devices: 3, rate: 20, qos: 1 }) }, 120_000)
afterAll(async () => { await d?.destroy() }, 60_000)

it('starts the three processes under pm2', async () => {
  const list = await waitUntil(async () => {
    const a = await d.apps()
    return a.length === 3 && a.every((p) => p.pm2_env.status === 'online') ? a : undefined
  }, 'three online apps')
  expect(list.map((a) => a.name).sort()).toEqual(['broker', 'consumer', 'producer'])
})

// ecosystem.config.js's node_args: V8's young generation held at its full 16 MiB, so that a broker back from a
// quiet spell does not scavenge ten times a second (BENCHMARKS.md, "Latency at 1k msg/s: the tail"). pm2 sets
// the process title over the command line, and a freshly started broker's young generation has grown to its
// full size anyway (it shrinks after a quiet spell): so the check is the flags pm2 started it with, and what
// those flags do to a Node process of the same binary
it('runs the broker with V8\'s young generation held at 16 MiB', async () => {
  const broker = (await d.apps()).find((a) => a.name === 'broker')
  const flags = broker?.pm2_env.node_args ?? []
  expect(flags).toContain('--min-semi-space-size=16')
  const probe = 'const s = require("v8").getHeapSpaceStatistics().find((x) => x.space_name === "new_space"); console.log(s.space_size)'
  const { stdout } = await run(process.execPath, [...flags, '-e', probe])
  expect(Number(stdout)).toBe(16 * 2 ** 20)
})

it('shows telemetry from several devices to an observer\'s mosquitto_sub', async () => {
  const sub = mosquittoSub(d.mqttPort, ['-u', 'observer', '-P', 'demo-observer', '-t', 'devices/+/telemetry', '-v', '-C', '30'])
  const res = await sub.exited()
  expect(res.code).toBe(0)
  const lines = res.stdout.split('\n')
  expect(new Set(lines.map((l) => l.split(' ')[0])).size).toBeGreaterThanOrEqual(2)
  const first = lines[0] ?? ''
  const payload = JSON.parse(first.slice(first.indexOf(' ') + 1)) as Record<string, unknown>
  expect(payload).toMatchObject({ deviceId: expect.any(String), seq: expect.any(Number), ts: expect.any(Number), readings: expect.any(Object) })
})

// aedes may deliver a persistent session's QoS 1 messages slightly out of order (its store's writes complete
// out of order), so a gap counted at one instant can be filled a moment later: the check is that the count
// comes back to zero. A message really lost keeps its gap open and the wait times out.
it('the consumer counts every message with no gap at QoS 1', async () => {
  const s = await waitUntil(async () => {
    const s = await d.summary()
    return s.received >= 150 && s.gaps === 0 ? s : undefined
  }, 'consumer to receive 150 messages with no gap open')
  expect(s.devices).toBe(3)
})

it('survives a broker restart with no loss at QoS 1', async () => {
  const before = await d.summary()
  const broker = (await d.apps()).find((a) => a.name === 'broker')
  await d.pm2('restart', 'broker')
  await waitUntil(async () => {
    const b = (await d.apps()).find((a) => a.name === 'broker')
    return b !== undefined && b.pm2_env.status === 'online' && b.pid !== broker?.pid ? b : undefined
  }, 'broker to come back online')
  // the fleet reconnects and goes on; the consumer's session was kept in the broker's store
  const after = await waitUntil(async () => {
    const s = await d.summary()
    return s.received >= before.received + 150 && s.gaps === 0 ? s : undefined
  }, 'consumer to resume with no gap open', 60_000)
  expect(after.devices).toBe(3)
  const restarts = Object.fromEntries((await d.apps()).map((a) => [a.name, a.pm2_env.restart_time]))
  expect(restarts).toMatchObject({ producer: 0, consumer: 0 })
}, 90_000)
