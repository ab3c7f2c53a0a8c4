// TLS, mTLS, WebSocket and WSS listeners: the same accounts, ownership and audit on every transport.
import { request } from 'node:http'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { IClientOptions } from 'mqtt'
import { parseConfig } from '../../apps/broker/src/config/load-config.js'
import { baseConfig, PASSWORD, startBroker, type TestBroker } from '../helpers/broker.js'
import { connackCode, publish, subscribe, type TestClient } from '../helpers/mqtt.js'
import { useScope } from '../helpers/scope.js'
import { createTestPki, type KeyPair, type TestPki } from '../helpers/tls.js'

let pki: TestPki
let sensor1: KeyPair
let sensor2BySan: KeyPair
let stranger: KeyPair
let rogue: KeyPair
beforeAll(async () => {
  pki = await createTestPki()
  ;[sensor1, sensor2BySan, stranger, rogue] = await Promise.all([
    pki.client('sensor-1'),
    pki.client('san', { cn: 'not-a-user', dns: 'sensor-2' }),
    pki.client('stranger'),
    pki.client('rogue', { cn: 'sensor-1', untrusted: true })
  ])
})
afterAll(async () => { await pki.remove() })

const scope = useScope()

async function start (tls: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Promise<TestBroker> {
  return await scope.start({
    config: {
      // refusals here are on purpose: no progressive delay
      limits: { login: { delayMs: 0 } },
      tls: { enabled: true, port: 0, host: '127.0.0.1', cert: pki.server.cert, key: pki.server.key, ca: pki.ca, ...tls },
      ws: { enabled: true, port: 0, host: '127.0.0.1' },
      wss: { enabled: true, port: 0, host: '127.0.0.1' },
      ...extra
    }
  })
}

function urls (b: TestBroker): Record<'tcp' | 'tls' | 'ws' | 'wss', string> {
  const l = b.broker.listeners
  return {
    tcp: b.url,
    tls: `mqtts://127.0.0.1:${String(l.tls?.port)}`,
    ws: `ws://127.0.0.1:${String(l.ws?.port)}/mqtt`,
    wss: `wss://127.0.0.1:${String(l.wss?.port)}/mqtt`
  }
}

/** TLS options for MQTT.js: trust the test CA, optionally present a client certificate */
function tlsOpts (cert?: KeyPair): IClientOptions {
  const o: Record<string, unknown> = { ca: pki.caPem, rejectUnauthorized: true }
  if (cert !== undefined) { o.cert = cert.certPem; o.key = cert.keyPem }
  return { ...o, wsOptions: { ...o } } as IClientOptions
}

async function client (url: string, username: string | undefined, opts: IClientOptions = {}): Promise<TestClient> {
  return await scope.client(username, opts, { url })
}

it('serves the same accounts and ownership over TCP, TLS, WebSocket and WSS', async () => {
  const b = await start()
  const obs = await client(b.url, 'observer')
  await subscribe(obs, 'sensors/#', 1)
  for (const [name, url] of Object.entries(urls(b))) {
    const opts = name === 'tls' || name === 'wss' ? tlsOpts() : {}
    expect(await connackCode(url, { ...opts, username: 'sensor-1', password: 'wrong' }), name).toBe(4)
    const s1 = await client(url, 'sensor-1', { ...opts, clientId: `s1-${name}` })
    await publish(s1, `sensors/sensor-2/${name}`, 'forged', { qos: 1 })
    await publish(s1, `sensors/sensor-1/${name}`, `via ${name}`, { qos: 1 })
    await obs.waitFor((m) => m.payload === `via ${name}`)
  }
  expect(obs.messages.map((m) => m.payload)).toEqual(['via tcp', 'via tls', 'via ws', 'via wss'])
  expect(b.broker.audit.counts.get('publish:not-owner')).toBe(4)
  expect(b.broker.audit.counts.get('connect:bad-credentials')).toBe(4)
})

describe('mTLS', () => {
  it('takes a verified certificate\'s CN as the user: no password, same ownership, over TLS and WSS', async () => {
    const b = await start({ clientCerts: 'optional' })
    const obs = await client(b.url, 'observer')
    await subscribe(obs, 'sensors/#', 1)
    const u = urls(b)
    for (const url of [u.tls, u.wss]) {
      const dev = await client(url, undefined, { ...tlsOpts(sensor1), clientId: `dev-${url.slice(0, 3)}` })
      await publish(dev, 'sensors/sensor-2/x', 'forged', { qos: 1 })
      await publish(dev, 'sensors/sensor-1/x', `cert via ${url.slice(0, 4)}`, { qos: 1 })
    }
    await obs.waitFor((m) => m.payload === 'cert via wss:')
    expect(obs.messages.map((m) => m.payload)).toEqual(['cert via mqtt', 'cert via wss:'])
    expect(b.broker.audit.counts.get('publish:not-owner')).toBe(2)
  })

  it('refuses a certificate naming no configured user, or a username that is not the certificate\'s (CONNACK 5)', async () => {
    const b = await start({ clientCerts: 'optional' })
    const { tls } = urls(b)
    expect(await connackCode(tls, { ...tlsOpts(stranger) })).toBe(5)
    expect(await connackCode(tls, { ...tlsOpts(sensor1), username: 'sensor-2', password: PASSWORD })).toBe(5)
    // the certificate's own name as username is fine, whatever the password
    expect(await connackCode(tls, { ...tlsOpts(sensor1), username: 'sensor-1', password: 'anything' })).toBe(0)
    expect(b.broker.audit.counts.get('connect:not-authorized')).toBe(2)
  })

  it('in optional mode, lets a client without a certificate log in with its password, and refuses an untrusted one', async () => {
    const b = await start({ clientCerts: 'optional' })
    const { tls } = urls(b)
    expect(await connackCode(tls, { ...tlsOpts(), username: 'sensor-1', password: PASSWORD })).toBe(0)
    expect(await connackCode(tls, { ...tlsOpts(), username: 'sensor-1', password: 'wrong' })).toBe(4)
    await expect(connackCode(tls, { ...tlsOpts(rogue), username: 'sensor-1', password: PASSWORD })).rejects.toThrow()
    expect(b.broker.audit.counts.get('connection:bad-certificate')).toBe(1)
  })

  it('in required mode, refuses a client without a certificate at the handshake', async () => {
    const b = await start({ clientCerts: 'required' })
    const { tls, wss } = urls(b)
    await expect(connackCode(tls, { ...tlsOpts(), username: 'sensor-1', password: PASSWORD })).rejects.toThrow()
    await expect(connackCode(wss, { ...tlsOpts(), username: 'sensor-1', password: PASSWORD })).rejects.toThrow()
    expect(b.broker.audit.counts.get('connection:tls-handshake')).toBeGreaterThanOrEqual(2)
    expect(await connackCode(tls, tlsOpts(sensor1))).toBe(0)
    expect(await connackCode(wss, tlsOpts(sensor1))).toBe(0)
  })

  it('can take the identity from a DNS subject-alternative name instead', async () => {
    const b = await start({ clientCerts: 'optional', certIdentity: 'san-dns' })
    const obs = await client(b.url, 'observer')
    await subscribe(obs, 'sensors/#', 1)
    const dev = await client(urls(b).tls, undefined, tlsOpts(sensor2BySan))
    await publish(dev, 'sensors/sensor-2/x', 'by san', { qos: 1 })
    await obs.waitFor((m) => m.payload === 'by san')
    // sensor-1's certificate carries no DNS name: no identity, and no password either
    expect(await connackCode(urls(b).tls, tlsOpts(sensor1))).toBe(5)
  })
})

describe('WebSocket', () => {
  it('answers a plain HTTP request with 426 and serves MQTT only on its path', async () => {
    const b = await start()
    const port = b.broker.listeners.ws?.port as number
    const status = await new Promise<number | undefined>((resolve, reject) => {
      request({ host: '127.0.0.1', port, path: '/mqtt' }, (res) => { res.resume(); resolve(res.statusCode) }).on('error', reject).end()
    })
    expect(status).toBe(426)
    await expect(connackCode(`ws://127.0.0.1:${port}/elsewhere`, { username: 'sensor-1', password: PASSWORD })).rejects.toThrow()
  })
})

describe('configuration', () => {
  it('names the missing key when TLS is enabled without a certificate', async () => {
    expect(() => parseConfig({ tls: { enabled: true } }, 'w.yaml')).toThrow(/tls\.cert: is required by tls\.enabled/)
    expect(() => parseConfig({ wss: { enabled: true }, tls: { cert: 'c.pem' } }, 'w.yaml')).toThrow(/tls\.key: is required by wss\.enabled/)
    expect(() => parseConfig({ tls: { clientCerts: 'required' } }, 'w.yaml')).toThrow(/tls\.ca: is required when tls\.clientCerts is "required"/)
    expect(() => parseConfig({ tls: { certIdentity: 'serial' } }, 'w.yaml'))
      .toThrow(/tls\.certIdentity: must be one of "cn", "san-dns", "san-uri", "san-email"/)
  })

  it('refuses to start with WARDEN_ERR_TLS naming the file that cannot be read or used', async () => {
    const missing = startBroker({ config: { ...(await baseConfig()), tls: { enabled: true, port: 0, cert: join(pki.dir, 'nope.crt'), key: pki.server.key } } })
    await expect(missing).rejects.toMatchObject({ code: 'WARDEN_ERR_TLS', message: expect.stringMatching(/cannot read tls\.cert .*nope\.crt/) as unknown })
    const garbage = join(pki.dir, 'garbage.key')
    await writeFile(garbage, 'not a key\n')
    const bad = startBroker({ config: { tls: { enabled: true, port: 0, cert: pki.server.cert, key: garbage } } })
    await expect(bad).rejects.toMatchObject({ code: 'WARDEN_ERR_TLS', message: expect.stringContaining(garbage) as unknown })
  })
})
