// The identity a verified client certificate carries (mTLS): the subject CN or a subject-alternative name,
// as configured. Listeners record it per connection; authentication reads it back.
import type { PeerCertificate, TLSSocket } from 'node:tls'
import type { Client } from 'aedes'
import type { CertIdentity } from '../config/hardening-schema.js'

const names = new WeakMap<object, string>()

/** The name in a certificate, or undefined when it has none of the configured kind. */
export function certificateName (cert: PeerCertificate, kind: CertIdentity): string | undefined {
  if (kind === 'cn') {
    const cn = (cert.subject as Record<string, string | string[] | undefined> | undefined)?.CN
    const v = Array.isArray(cn) ? cn[0] : cn
    return v === undefined || v === '' ? undefined : v
  }
  const prefix = kind === 'san-dns' ? 'DNS:' : kind === 'san-uri' ? 'URI:' : 'email:'
  for (const entry of (cert.subjectaltname ?? '').split(', ')) {
    if (entry.startsWith(prefix) && entry.length > prefix.length) return entry.slice(prefix.length)
  }
  return undefined
}

/**
 * Reads the verified certificate of a TLS socket and ties its name to `conn` (the stream aedes is given).
 * Returns the name, or undefined when no verified certificate (or no name of that kind) was presented.
 */
export function recordCertificate (socket: TLSSocket, conn: object, kind: CertIdentity): string | undefined {
  if (!socket.authorized) return undefined
  const cert = socket.getPeerCertificate()
  if (cert === null || Object.keys(cert).length === 0) return undefined
  const name = certificateName(cert, kind)
  if (name !== undefined) names.set(conn, name)
  return name
}

/** The certificate name of a client's connection, if it presented a verified certificate. */
export function certNameOf (client: Client): string | undefined {
  return names.get(client.conn)
}
