// Certificate names: the CN or a SAN of a client certificate, by kind.
import type { PeerCertificate } from 'node:tls'
import { describe, expect, it } from 'vitest'
import { certificateName } from '../../apps/broker/src/net/cert-identity.js'

describe('certificate names', () => {
  const cert = (subject: Record<string, unknown>, san?: string): PeerCertificate =>
    ({ subject, ...(san !== undefined ? { subjectaltname: san } : {}) }) as unknown as PeerCertificate
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
