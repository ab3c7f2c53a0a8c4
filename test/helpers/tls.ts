// A throwaway PKI made by the test itself with the openssl CLI: a CA, a server certificate for 127.0.0.1,
// client certificates, and a client certificate from a CA the broker does not trust.
import { execFile } from 'node:child_process'
// certificates are signed concurrently: a random serial each, no shared .srl file to race on
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface KeyPair { readonly cert: string, readonly key: string, readonly certPem: Buffer, readonly keyPem: Buffer }

export interface TestPki {
  readonly dir: string
  readonly ca: string
  readonly caPem: Buffer
  readonly server: KeyPair
  /** a client certificate signed by the CA: CN `cn`, SAN DNS `dns` (if given) */
  client (name: string, opts?: { cn?: string, dns?: string, untrusted?: boolean }): Promise<KeyPair>
  remove (): Promise<void>
}

async function openssl (args: string[], cwd: string): Promise<void> {
  await run('openssl', args, { cwd })
}

async function issue (dir: string, name: string, subject: string, caName: string, ext: string): Promise<KeyPair> {
  const key = join(dir, `${name}.key`)
  const csr = join(dir, `${name}.csr`)
  const cert = join(dir, `${name}.crt`)
  const extFile = join(dir, `${name}.ext`)
  await writeFile(extFile, ext)
  await openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', subject], dir)
  await openssl([
    'x509', '-req', '-in', csr, '-CA', `${caName}.crt`, '-CAkey', `${caName}.key`, '-set_serial', `0x${randomBytes(16).toString('hex')}`,
    '-out', cert, '-days', '2', '-extfile', extFile
  ], dir)
  return { cert, key, certPem: await readFile(cert), keyPem: await readFile(key) }
}

async function makeCa (dir: string, name: string): Promise<void> {
  await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.crt`, '-subj', `/CN=${name}`, '-days', '2'], dir)
}

export async function createTestPki (): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), 'warden-pki-'))
  await Promise.all([makeCa(dir, 'warden-test-ca'), makeCa(dir, 'rogue-ca')])
  const server = await issue(dir, 'server', '/CN=localhost', 'warden-test-ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\n')
  const ca = join(dir, 'warden-test-ca.crt')
  return {
    dir,
    ca,
    caPem: await readFile(ca),
    server,
    client: (name, { cn = name, dns, untrusted = false } = {}) =>
      issue(dir, `client-${name}`, `/CN=${cn}`, untrusted ? 'rogue-ca' : 'warden-test-ca',
        `extendedKeyUsage=clientAuth\n${dns !== undefined ? `subjectAltName=DNS:${dns}\n` : ''}`),
    remove: () => rm(dir, { recursive: true, force: true })
  }
}
