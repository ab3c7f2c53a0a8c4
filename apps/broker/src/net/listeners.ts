// The network listeners: MQTT over TCP (always), TLS, WebSocket and WebSocket over TLS (each when enabled).
// Every connection, whatever its transport, is admitted by the same limits and handed to the same broker,
// so authentication and ownership are identical on all of them.
import { readFileSync } from 'node:fs'
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { createServer as createTlsServer, type TlsOptions, type TLSSocket } from 'node:tls'
import { createWebSocketStream, WebSocketServer } from 'ws'
import { WardenError, type Logger } from '@warden/common'
import type { TlsConfig, WsConfig } from '../config/hardening-schema.js'
import type { WardenConfig } from '../config/schema.js'
import { recordCertificate } from './cert-identity.js'
import { listenError } from './listen-error.js'
import type { CloseHook } from '../aedes/close-hooks.js'

export type Transport = 'mqtt' | 'tls' | 'ws' | 'wss'

export interface ListenerAddresses {
  readonly mqtt: AddressInfo
  readonly tls?: AddressInfo
  readonly ws?: AddressInfo
  readonly wss?: AddressInfo
}

export interface ListenerDeps {
  /** a new socket, before any byte is read (before the TLS handshake too): false refuses it */
  admit (socket: Socket, transport: Transport): boolean
  /** an admitted socket closed */
  released (socket: Socket): void
  /** the broker's close hooks (aedes/close-hooks.ts): every admitted socket is watched */
  closing: { add (hook: CloseHook): void, watch (conn: Duplex): void }
  /** hands an MQTT byte stream to the broker */
  handle (stream: Duplex, req: IncomingMessage | undefined): void
  /** a TLS client was refused: its handshake failed, or its certificate is missing where required or does
   * not verify */
  onTlsRefused (socket: Socket, transport: Transport, reason: 'tls-handshake' | 'bad-certificate', detail: string): void
  logger: Logger
}

export interface Listeners {
  readonly addresses: ListenerAddresses
  /** sockets open on all listeners, MQTT sessions or not */
  readonly connections: number
  /** stops accepting; resolves once every server has closed (that is, once its connections are gone) */
  close (): Promise<void>
  /** ends connections still open, e.g. sockets that never sent CONNECT */
  destroyConnections (): void
}

type Cfg = Pick<WardenConfig, 'mqtt' | 'limits'> & { readonly tls: TlsConfig, readonly ws: WsConfig, readonly wss: WsConfig }

export async function startListeners (config: Cfg, deps: ListenerDeps): Promise<Listeners> {
  const sockets = new Set<Socket>()
  const servers: Server[] = []
  const addresses: { -readonly [K in keyof ListenerAddresses]: ListenerAddresses[K] } = {} as ListenerAddresses
  const timeoutMs = config.limits.connectTimeoutMs

  // run by the broker's one close listener for every stream it watches: an admitted socket is in the set
  deps.closing.add((conn) => { if (sockets.delete(conn as Socket)) deps.released(conn as Socket) })
  const track = (server: Server, transport: Transport, onAdmitted?: (socket: Socket) => void): void => {
    server.on('connection', (socket: Socket) => {
      if (!deps.admit(socket, transport)) { socket.destroy(); return }
      sockets.add(socket)
      deps.closing.watch(socket)
      onAdmitted?.(socket)
    })
    servers.push(server)
  }

  const closeAll = (): Promise<void> => Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))).then(() => {})
  const fail = async (err: unknown): Promise<never> => {
    for (const s of sockets) s.destroy()
    await closeAll()
    throw err
  }

  try {
    const tcp = createNetServer({ noDelay: true })
    track(tcp, 'mqtt', (socket) => deps.handle(socket, undefined))
    addresses.mqtt = await listen(tcp, 'mqtt', config.mqtt.port, config.mqtt.host)

    const tlsOptions = config.tls.enabled || config.wss.enabled ? readTlsOptions(config.tls) : undefined
    if (config.tls.enabled && tlsOptions !== undefined) {
      const server = createTlsServer({ ...tlsOptions, noDelay: true, handshakeTimeout: timeoutMs } as TlsOptions, (socket) => {
        if (!checkCertificate(socket, 'tls', config.tls, deps)) return
        recordCertificate(socket, socket, config.tls.certIdentity)
        deps.handle(socket, undefined)
      })
      server.on('tlsClientError', (err, socket) => deps.onTlsRefused(socket, 'tls', 'tls-handshake', err.message))
      track(server, 'tls')
      addresses.tls = await listen(server, 'tls', config.tls.port, config.tls.host)
    }
    if (config.ws.enabled) {
      const server = createHttpServer({ noDelay: true }, upgradeRequired)
      serveWebSocket(server, 'ws', config, deps)
      track(server, 'ws')
      addresses.ws = await listen(server, 'ws', config.ws.port, config.ws.host)
    }
    if (config.wss.enabled && tlsOptions !== undefined) {
      const server = createHttpsServer({ ...tlsOptions, noDelay: true, handshakeTimeout: timeoutMs }, upgradeRequired)
      server.on('tlsClientError', (err, socket) => deps.onTlsRefused(socket, 'wss', 'tls-handshake', err.message))
      serveWebSocket(server, 'wss', config, deps)
      track(server, 'wss')
      addresses.wss = await listen(server, 'wss', config.wss.port, config.wss.host)
    }
  } catch (err) {
    return await fail(err)
  }

  return {
    addresses,
    get connections () { return sockets.size },
    close: closeAll,
    destroyConnections () { for (const s of sockets) s.destroy() }
  }
}

function serveWebSocket (server: HttpServer, transport: 'ws' | 'wss', config: Cfg, deps: ListenerDeps): void {
  const timeoutMs = config.limits.connectTimeoutMs
  server.headersTimeout = timeoutMs
  server.requestTimeout = timeoutMs
  const wss = new WebSocketServer({
    server,
    path: (transport === 'ws' ? config.ws : config.wss).path,
    // the packet guard checks each MQTT packet; this bounds what ws buffers before handing a message on
    maxPayload: 2 * config.limits.maxPacketBytes,
    perMessageDeflate: false,
    clientTracking: false
  })
  wss.on('connection', (ws, req) => {
    const stream = createWebSocketStream(ws)
    if (transport === 'wss') {
      const socket = req.socket as TLSSocket
      if (!checkCertificate(socket, 'wss', config.tls, deps)) { ws.terminate(); return }
      recordCertificate(socket, stream, config.tls.certIdentity)
    }
    deps.handle(stream, req)
  })
  // errors of single connections reach their streams; a server error here would only repeat them
  wss.on('error', (err) => deps.logger.debug({ err: err.message, transport }, 'websocket server error'))
}

function upgradeRequired (_req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(426, { 'content-type': 'text/plain', connection: 'close' })
  res.end('MQTT over WebSocket only\n')
}

/** In `optional` mode a certificate that does not verify is refused rather than ignored. */
function checkCertificate (socket: TLSSocket, transport: Transport, tls: TlsConfig, deps: ListenerDeps): boolean {
  if (tls.clientCerts === 'none' || socket.authorized) return true
  const cert = socket.getPeerCertificate()
  const presented = cert !== null && Object.keys(cert).length > 0
  if (!presented && tls.clientCerts === 'optional') return true
  deps.onTlsRefused(socket, transport, 'bad-certificate', String(socket.authorizationError ?? 'no client certificate'))
  socket.destroy()
  return false
}

export function readTlsOptions (tls: TlsConfig): TlsOptions {
  const read = (key: 'cert' | 'key' | 'ca'): Buffer | undefined => {
    const path = tls[key]
    if (path === undefined) return undefined
    try {
      return readFileSync(path)
    } catch (err) {
      throw new WardenError('WARDEN_ERR_TLS', `cannot read tls.${key} (${path}): ${(err as Error).message}`, { cause: err })
    }
  }
  const opts: TlsOptions = {
    cert: read('cert'),
    key: read('key'),
    requestCert: tls.clientCerts !== 'none',
    rejectUnauthorized: tls.clientCerts === 'required'
  }
  const ca = read('ca')
  if (ca !== undefined) opts.ca = ca
  try {
    // fails here, naming the files, rather than on the first handshake
    createTlsServer(opts).close()
  } catch (err) {
    const files = [tls.cert, tls.key, tls.ca].filter((p) => p !== undefined).join(', ')
    throw new WardenError('WARDEN_ERR_TLS', `tls.cert/tls.key/tls.ca (${files}): ${(err as Error).message}`, { cause: err })
  }
  return opts
}

/**
 * Connections the kernel holds for the broker to accept (capped by net.core.somaxconn). Node's 511 is full
 * after well under a second of a busy event loop during a connect storm; the kernel then drops the SYNs of
 * everyone, honest devices included, whose retries come 1 s and 3 s later.
 */
const LISTEN_BACKLOG = 4096

function listen (server: Server, name: Transport, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => { reject(listenError(name, host, port, err)) }
    server.once('error', onError)
    server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', onError)
      resolve(server.address() as AddressInfo)
    })
  })
}
