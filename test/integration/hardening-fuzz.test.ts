// Fuzzing over real sockets: mutated and random MQTT byte streams, thousands of them, against a running
// broker. None may crash or stall it, none may publish where nobody owns, and afterwards it serves a normal
// client. Sizes: WARDEN_FUZZ_INPUTS (default 3000), WARDEN_FUZZ_MS (time budget, default 8000),
// WARDEN_FUZZ_SEED; WARDEN_FUZZ_TRACE=<file> appends every input (hex) to a file, to replay a failure.
import { appendFileSync } from 'node:fs'
import { connect as netConnect } from 'node:net'
import mqttPacket, { type Packet } from 'mqtt-packet'
import { beforeAll, expect, it } from 'vitest'
import { PASSWORD, type TestBroker } from '../helpers/broker.js'
import { publish, subscribe, type TestClient } from '../helpers/mqtt.js'
import { waitUntil } from '../helpers/ports.js'
import { useScope } from '../helpers/scope.js'
import { createRandom as prng } from '../../apps/producer/src/telemetry.js'

const INPUTS = Number(process.env.WARDEN_FUZZ_INPUTS ?? 3000)
const BUDGET_MS = Number(process.env.WARDEN_FUZZ_MS ?? 8000)
const SEED = Number(process.env.WARDEN_FUZZ_SEED ?? 20261122)
const PARALLEL = 16
/** an input's connection must be closed by then, or the broker is stalled */
const INPUT_DEADLINE_MS = 5000

const scope = useScope()
let tb: TestBroker
let observer: TestClient
beforeAll(async () => {
  tb = await scope.start({
    config: {
      anonymous: 'consumer',
      limits: {
        connectTimeoutMs: 1000,
        maxPacketBytes: 65536,
        maxOutgoingBytes: 131072,
        connectionRate: { perSecond: 0 },
        login: { delayMs: 0, maxFailuresPerUserAddress: 0, maxFailuresPerAddress: 0 }
      }
    }
  })
  observer = await scope.client('observer')
  await subscribe(observer, ['#', '$SYS/forged/#'], 1)
})

const random = prng(SEED)
const int = (n: number): number => Math.floor(random() * n)
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T
const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)))
const gen = (p: Record<string, unknown>): Buffer => mqttPacket.generate(p as unknown as Packet)

const TOPICS = ['sensors/sensor-1/f', 'sensors/sensor-2/f', 'sensors/shared/f', 'fuzz/unowned', '$SYS/forged/x', 'sensors/sensor-1/é/ü', 'a/b/c/d/e/f/g/h/i']
const FILTERS = ['#', '+/+', 'sensors/#', 'sensors/+/f', '$SYS/#', 'fuzz/#', 'a/#/b', 'x+y', '']

function validConnect (): Buffer {
  // most logins are anonymous: a password check costs scrypt (an unknown user, the production-cost decoy)
  const withUser = random() < 0.3
  return gen({
    cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: random() < 0.8, keepalive: int(60), clientId: `fuzz-${int(50)}`,
    ...(withUser ? { username: pick(['sensor-1', 'sensor-2', 'dashboard']), password: Buffer.from(random() < 0.8 ? PASSWORD : 'wrong') } : {}),
    ...(random() < 0.2 ? { will: { topic: pick(TOPICS), payload: bytes(int(20)), qos: int(3), retain: random() < 0.5 } } : {})
  })
}

function validPacket (): Buffer {
  const id = 1 + int(65535)
  switch (int(9)) {
    case 0: case 1: case 2: {
      const qos = int(3)
      return gen({
        cmd: 'publish', topic: pick(TOPICS), payload: bytes(int(100)), qos, retain: random() < 0.2, dup: random() < 0.2,
        ...(qos > 0 ? { messageId: id } : {})
      })
    }
    case 3: return gen({
      cmd: 'subscribe',
      messageId: id,
      subscriptions: Array.from({ length: 1 + int(3) }, () => ({ topic: pick(FILTERS.filter((f) => f !== '')), qos: int(3) }))
    })
    case 4: return gen({ cmd: 'unsubscribe', messageId: id, unsubscriptions: [pick(FILTERS.filter((f) => f !== ''))] })
    case 5: return gen({ cmd: pick(['puback', 'pubrec', 'pubrel', 'pubcomp']), messageId: id })
    case 6: return gen({ cmd: 'pingreq' })
    case 7: return validConnect()
    default: return gen({ cmd: 'disconnect' })
  }
}

function mutate (b: Buffer): Buffer {
  const out = Buffer.from(b)
  switch (int(7)) {
    case 0: { // flip a few bits
      for (let i = 0, n = 1 + int(4); i < n && out.length > 0; i++) {
        const at = int(out.length)
        out[at] = (out[at] as number) ^ (1 << int(8))
      }
      return out
    }
    case 1: return out.subarray(0, int(out.length)) // truncate
    case 2: { // insert random bytes
      const at = int(out.length + 1)
      return Buffer.concat([out.subarray(0, at), bytes(1 + int(8)), out.subarray(at)])
    }
    case 3: { // corrupt the remaining length
      if (out.length > 1) out[1] = int(256)
      if (out.length > 2 && random() < 0.5) out[2] = int(256)
      return out
    }
    case 4: { // change the packet type
      if (out.length > 0) out[0] = (int(16) << 4) | (out[0] as number & 0x0f)
      return out
    }
    case 5: { // make a string invalid UTF-8 or add U+0000
      if (out.length > 6) out[4 + int(out.length - 5)] = pick([0x00, 0xc3, 0xff, 0xed, 0x80])
      return out
    }
    default: return Buffer.concat([out, out.subarray(int(out.length))]) // repeat a tail
  }
}

function input (): Buffer[] {
  const r = random()
  if (r < 0.1) return [bytes(1 + int(200))]
  const parts: Buffer[] = []
  if (r < 0.7) parts.push(random() < 0.8 ? validConnect() : mutate(validConnect()))
  for (let i = 0, n = 1 + int(4); i < n; i++) parts.push(random() < 0.6 ? mutate(validPacket()) : validPacket())
  return parts
}

/** sends one input, half-closes, and resolves once the broker has closed the connection */
function feed (parts: Buffer[]): Promise<'closed' | 'stalled'> {
  return new Promise((resolve) => {
    const sock = netConnect(tb.port, '127.0.0.1')
    sock.on('error', () => {})
    sock.on('data', () => {})
    const timer = setTimeout(() => { sock.destroy(); resolve('stalled') }, INPUT_DEADLINE_MS)
    sock.once('close', () => { clearTimeout(timer); resolve('closed') })
    sock.once('connect', () => {
      if (process.env.WARDEN_FUZZ_TRACE !== undefined) appendFileSync(process.env.WARDEN_FUZZ_TRACE, parts.map((p) => p.toString('hex')).join(' ') + '\n')
      for (const p of parts) sock.write(p)
      sock.end()
    })
  })
}

it(`survives ${INPUTS} mutated and random inputs (seed ${SEED}) and then serves a normal client`, async () => {
  const baseline = tb.broker.limits.stats.connections
  const t0 = Date.now()
  let tried = 0
  let stalled = 0
  const worker = async (): Promise<void> => {
    while (tried < INPUTS && Date.now() - t0 < BUDGET_MS) {
      tried++
      if (await feed(input()) === 'stalled') stalled++
    }
  }
  await Promise.all(Array.from({ length: PARALLEL }, worker))
  const ms = Date.now() - t0
  const refusals = [...tb.broker.audit.counts].filter(([k]) => k.startsWith('connection:')).map(([k, n]) => `${k}=${n}`).join(' ')
  console.log(`fuzz: ${tried} inputs tried (seed ${SEED}) in ${ms} ms; ${stalled} stalled; ${refusals}`)

  expect(stalled).toBe(0)
  expect(tried).toBeGreaterThanOrEqual(Math.min(INPUTS, 500))
  await waitUntil(() => tb.broker.limits.stats.connections === baseline ? true : undefined, 'every fuzz connection closed', 10_000, 20)
  // nobody published where no one owns, nobody forged $SYS
  expect(observer.messages.filter((m) => m.topic.startsWith('fuzz/') || m.topic.startsWith('$SYS/forged'))).toEqual([])
  const s1 = await scope.client('sensor-1')
  await publish(s1, 'sensors/sensor-1/after', 'still serving', { qos: 2 })
  await observer.waitFor((m) => m.payload === 'still serving')
  await s1.end()
}, Math.max(60_000, 3 * BUDGET_MS))
