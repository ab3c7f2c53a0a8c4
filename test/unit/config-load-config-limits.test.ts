// The hardening settings: defaults, ranges, and cross-key checks naming the key.
import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../apps/broker/src/config/load-config.js'
import { certificateName } from '../../apps/broker/src/broker/cert-identity.js'
import type { PeerCertificate } from 'node:tls'

describe('hardening config', () => {
  it.each([
    [{ limits: { maxPacketBytes: 10 } }, /limits\.maxPacketBytes: must be >= 64/],
    [{ limits: { maxPacketBytes: 1048576, maxOutgoingBytes: 1048576 } }, /limits\.maxOutgoingBytes: must be 0 \(no bound\) or at least twice limits\.maxPacketBytes \(2097152\)/],
    [{ limits: { publishRate: { onExcess: 'queue' } } }, /limits\.publishRate\.onExcess: must be one of "delay", "drop", "disconnect"/],
    [{ limits: { publishRate: { perSecond: 10, burst: 0 } } }, /limits\.publishRate\.burst: must be >= 1/],
    [{ limits: { connectionRate: { perSecond: -1 } } }, /limits\.connectionRate\.perSecond: must be >= 0/],
    [{ limits: { login: { lockoutMs: 5000, maxLockoutMs: 1000 } } }, /limits\.login\.maxLockoutMs: must not be less than limits\.login\.lockoutMs/],
    [{ limits: { login: { delayMs: 500, maxDelayMs: 100 } } }, /limits\.login\.maxDelayMs: must not be less than limits\.login\.delayMs/],
    [{ limits: { maxConnectionsPerUsr: 3 } }, /limits\.maxConnectionsPerUsr: is not a known setting/],
    [{ ws: { enabled: true, path: 'mqtt' } }, /ws\.path: must match pattern/],
    [{ mqtt: { port: 40000 }, ws: { enabled: true, port: 40000 } }, /ws\.port: 40000 is already taken by mqtt\.port/],
    [{ ws: { enabled: true, port: 9001 }, wss: { enabled: true, port: 9001 }, tls: { cert: 'c', key: 'k' } }, /wss\.port: 9001 is already taken by ws\.port/]
  ])('refuses %j, naming the key', (data, message) => {
    expect(() => parseConfig(data, 'w.yaml')).toThrow(message)
  })

  it('accepts 0 as "no limit" for the counts and rates', () => {
    const c = parseConfig({ limits: { maxConnections: 0, maxConnectionsPerUser: 0, maxSubscriptionsPerClient: 0, maxQueuedMessages: 0, maxOutgoingBytes: 0, publishRate: { perSecond: 0 }, connectionRate: { perSecond: 0 } } }, 'w.yaml')
    expect(c.limits.maxOutgoingBytes).toBe(0)
    expect(c.limits.publishRate).toEqual({ perSecond: 0, burst: 5000, onExcess: 'delay' })
  })
})

describe('certificate names', () => {
  const cert = (subject: Record<string, unknown>, san?: string): PeerCertificate => ({ subject, ...(san !== undefined ? { subjectaltname: san } : {}) }) as unknown as PeerCertificate
  it.each([
    ['cn', cert({ CN: 'device-7', O: 'Acme' }), 'device-7'],
    ['cn', cert({ CN: ['first', 'second'] }), 'first'],
    ['cn', cert({ O: 'no cn' }), undefined],
    ['san-dns', cert({ CN: 'x' }, 'IP Address:10.0.0.1, DNS:device-7.fleet, DNS:other'), 'device-7.fleet'],
    ['san-uri', cert({ CN: 'x' }, 'DNS:a, URI:spiffe://fleet/device-7'), 'spiffe://fleet/device-7'],
    ['san-email', cert({ CN: 'x' }, 'email:ops@example.com'), 'ops@example.com'],
    ['san-dns', cert({ CN: 'x' }), undefined]
  ] as const)('%s of %j → %s', (kind, c, name) => {
    expect(certificateName(c, kind)).toBe(name)
  })
})
