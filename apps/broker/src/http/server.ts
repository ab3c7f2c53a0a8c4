// The control plane's HTTP listener: the JSON API, /metrics, /healthz, /readyz, server-sent events, the
// dashboard's files and its sign-in. Everything but the probes, the dashboard's files and /auth/* needs an
// admin (or, to read, an observer): HTTP Basic credentials (CLI, scripts) or a dashboard session cookie.
import { createServer, type IncomingMessage, type Server as PlainServer, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https'
import type { TlsOptions } from 'node:tls'
import type { AddressInfo } from 'node:net'
import { isWardenError, WardenError } from '@warden/common'
import { executeCommand } from '../control/commands.js'
import type { ControlContext } from '../control/context.js'
import type { Metrics } from '../observe/metrics.js'
import { accountFingerprint } from '../auth/account-fingerprint.js'
import type { Identity } from '../policy/identity.js'
import { FieldError } from '../registry/field-error.js'
import { matchApi, withUrlHint } from './api-routes.js'
import type { Authenticator } from './basic-auth.js'
import { MAX_IMPORT_BODY, readJsonBody } from './body.js'
import type { EventStreams } from './events.js'
import { SECURITY_HEADERS, sendError, sendJson } from './respond.js'
import type { StaticFiles } from './static-files.js'
import { BACKGROUND_HEADER, CSRF_HEADER, handleSignIn, header, isCrossSite, sessionCookie, type SignInDeps } from './sign-in.js'
import type { WebSession } from './web-sessions.js'

export interface HttpDeps {
  ctx: ControlContext
  auth: Authenticator
  metrics: Metrics
  events: EventStreams
  files: StaticFiles
  signIn: SignInDeps
  /** false while starting or closing: /readyz answers 503 */
  ready: () => boolean
}

const READ_METHODS = new Set(['GET', 'HEAD'])

/** the control plane's listener: HTTP, or HTTPS when http.tls is set */
export type Server = PlainServer | HttpsServer

export function createHttpServer (deps: HttpDeps, tls?: TlsOptions): Server {
  const options = { requestTimeout: 30_000, headersTimeout: 10_000 }
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    handle(deps, req, res).catch((err: unknown) => {
      const log = (): void => deps.ctx.logger.error({ err, method: req.method, url: req.url }, 'http request failed')
      if (res.headersSent) { res.destroy(); log(); return }
      // a client's mistake (bad body, too large) is its answer; only the broker's own failures are logged.
      // An oversized body is not read to its end: the connection cannot be reused
      const tooLarge = isWardenError(err) && err.code === 'WARDEN_ERR_API_TOO_LARGE'
      if (sendError(res, err, tooLarge ? { connection: 'close' } : {}) === 500) log()
    })
  }
  const server = tls === undefined ? createServer(options, handler) : createHttpsServer({ ...tls, ...options }, handler)
  // keep-alive sockets and event streams must not hold up close()
  server.keepAliveTimeout = 5000
  return server
}

function segmentsOf (pathname: string): string[] {
  try {
    return pathname.split('/').slice(1).map((s) => decodeURIComponent(s))
  } catch {
    throw new FieldError('WARDEN_ERR_API_BAD_REQUEST', '(path)', 'is not valid percent-encoding')
  }
}

async function handle (deps: HttpDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { ctx } = deps
  const method = req.method ?? 'GET'
  const url = new URL(req.url ?? '/', 'http://localhost')
  const path = url.pathname

  // probes for pm2, systemd or an orchestrator: no credentials, no details
  if (path === '/healthz') { sendJson(res, 200, { status: 'ok' }); return }
  if (path === '/readyz') {
    const ready = deps.ready()
    sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready' })
    return
  }
  if (path === '/' || path === '/dashboard') {
    res.writeHead(302, { ...SECURITY_HEADERS, location: '/dashboard/' })
    res.end()
    return
  }
  // the dashboard's files hold no data (it comes from the API once signed in): served to anyone
  if (path.startsWith('/dashboard/')) {
    if (!READ_METHODS.has(method)) { methodNotAllowed(res, ['GET']); return }
    const name = path.slice('/dashboard/'.length) || 'index.html'
    if (!deps.files.serve(name, req, res, method === 'HEAD')) sendError(res, new WardenError('WARDEN_ERR_API_NOT_FOUND', `${path} does not exist`))
    return
  }
  if (path.startsWith('/auth/') && await handleSignIn(deps.signIn, req, res, path, method)) return

  const caller = await authorize(deps, req, res, method, path)
  if (caller === undefined) return
  const actor = caller.identity

  if (path === '/metrics') {
    if (!READ_METHODS.has(method)) { methodNotAllowed(res, ['GET']); return }
    const text = await deps.metrics.render()
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': deps.metrics.contentType })
    res.end(method === 'HEAD' ? undefined : text)
    return
  }
  if (path === '/api/v1/events') {
    if (method !== 'GET') { methodNotAllowed(res, ['GET']); return }
    const session = caller.session
    const { sessions } = deps.signIn
    // checked again here: the account may have changed while the credentials were checked, and the stream
    // would then be opened after its account's streams were closed
    if (!stillCurrent(ctx, caller)) { accountChanged(res); return }
    // a signed-out or expired session's stream ends at its next sample
    deps.events.open(req, res, actor.username, session === undefined ? undefined : () => sessions.alive(session.key))
    return
  }
  if (!path.startsWith('/api/v1/')) {
    sendError(res, new WardenError('WARDEN_ERR_API_NOT_FOUND', `${path} does not exist (the API lives under /api/v1/)`))
    return
  }

  const match = matchApi(method, segmentsOf(path.slice('/api/v1'.length)).slice(0))
  if (match.kind === 'none') { sendError(res, new WardenError('WARDEN_ERR_API_NOT_FOUND', `${path} does not exist`)); return }
  if (match.kind === 'method') { methodNotAllowed(res, match.allow); return }

  const fields: Record<string, unknown> = {}
  if (match.body) {
    const body = await readJsonBody(req, match.command === 'importRegistry' ? MAX_IMPORT_BODY : undefined)
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new FieldError('WARDEN_ERR_API_BAD_REQUEST', '(body)', 'must be a JSON object')
    for (const k of Object.keys(match.params)) {
      if (k in body) throw new FieldError('WARDEN_ERR_API_BAD_REQUEST', k, 'is given by the URL path, not the body')
    }
    Object.assign(fields, body)
  }
  for (const [k, v] of url.searchParams) fields[k] = /^\d+$/.test(v) ? Number(v) : v
  Object.assign(fields, match.params)
  // the body may come up to requestTimeout after the headers were checked: a change is made only by the
  // account as it is now (an admin demoted or deleted meanwhile makes nothing with its request in flight)
  if (!stillCurrent(ctx, caller)) { accountChanged(res); return }
  try {
    const data = await executeCommand(ctx, { identity: actor, fingerprint: caller.fingerprint }, 'http', { ...fields, command: match.command })
    sendJson(res, match.status, method === 'HEAD' ? undefined : data)
  } catch (err) {
    // the account changed while the command waited (acting-account.ts): answered as accountChanged is, without
    // a Basic challenge (a dashboard's browser would show its own prompt)
    const changed = isWardenError(err) && err.code === 'WARDEN_ERR_API_UNAUTHORIZED'
    if (sendError(res, withUrlHint(match.params, err), {}, !changed) === 500) ctx.logger.error({ err, command: match.command }, 'control command failed')
  }
}

interface Caller {
  readonly identity: Identity
  /** the dashboard session the request came with (none: HTTP Basic) */
  readonly session?: WebSession
  /** the account as it was when the credentials were checked (accountFingerprint) */
  readonly fingerprint: string | undefined
}

/** the caller's account is still the one its credentials were checked against */
function stillCurrent (ctx: ControlContext, caller: Caller): boolean {
  const username = caller.identity.username
  if (caller.fingerprint === undefined || username === undefined) return caller.session === undefined
  const account = ctx.rules.directory.accounts.get(username)
  return account !== undefined && accountFingerprint(account) === caller.fingerprint
}

function accountChanged (res: ServerResponse): void {
  sendError(res, new WardenError('WARDEN_ERR_API_UNAUTHORIZED', 'the account changed during the request: sign in again'), {}, false)
}

/** Credentials (HTTP Basic, else the session cookie), then the role the method needs, then (a change) that
 * it was not sent cross-site; answers 401/403 itself and returns undefined then. */
async function authorize (deps: HttpDeps, req: IncomingMessage, res: ServerResponse, method: string, path: string): Promise<Caller | undefined> {
  const read = READ_METHODS.has(method)
  let caller: Caller
  const cookie = sessionCookie(req)
  // a browser may also hold Basic credentials (typed into a prompt, or in a URL): its signed-in session decides
  const fromBrowser = req.headers['sec-fetch-mode'] !== undefined
  if (cookie !== undefined && (req.headers.authorization === undefined || fromBrowser)) {
    const session = await deps.signIn.sessions.touch(cookie, Date.now(), header(req, BACKGROUND_HEADER) === '1')
    if (session === undefined) {
      // no Basic challenge: the dashboard's browser would show its own prompt instead of the sign-in page
      sendError(res, new WardenError('WARDEN_ERR_API_UNAUTHORIZED', 'the dashboard session has ended: sign in again'), {}, false)
      return undefined
    }
    // SameSite=Strict keeps other sites' requests from carrying the cookie, but another port of this host is
    // the same site: a change also needs the token that only the dashboard's own pages can read
    if (!read && !deps.signIn.sessions.checkCsrf(session, header(req, CSRF_HEADER))) {
      sendError(res, new WardenError('WARDEN_ERR_API_CSRF', `a change made with the dashboard's cookie needs its ${CSRF_HEADER} header`))
      return undefined
    }
    caller = { identity: session.identity, session, fingerprint: session.fingerprint }
  } else {
    const outcome = await deps.auth.authenticate(req.headers.authorization, req.socket.remoteAddress, () => req.socket.destroyed)
    if (!outcome.ok) {
      if (outcome.retryAfterS !== undefined) {
        const code = outcome.pending === true ? 'WARDEN_ERR_API_LOGIN_PENDING' : 'WARDEN_ERR_API_THROTTLED'
        sendError(res, new WardenError(code, outcome.detail), { 'retry-after': String(outcome.retryAfterS) })
      } else sendError(res, new WardenError('WARDEN_ERR_API_UNAUTHORIZED', `authentication failed: ${outcome.detail}`))
      return undefined
    }
    caller = { identity: outcome.identity, fingerprint: outcome.account === undefined ? undefined : accountFingerprint(outcome.account) }
  }
  const actor = caller.identity
  // the metrics role: a Prometheus scraper's account, which may read /metrics and nothing else
  const scraper = read && path === '/metrics' && actor.roles.includes('metrics')
  if (!(actor.admin || (read && actor.observer) || scraper)) {
    const need = read
      ? 'reading the control plane needs the admin or observer role (the metrics role reads /metrics only)'
      : 'changing the registry needs the admin role'
    sendError(res, new WardenError('WARDEN_ERR_API_FORBIDDEN', need))
    return undefined
  }
  if (!read && isCrossSite(req)) {
    sendError(res, new WardenError('WARDEN_ERR_API_FORBIDDEN', 'cross-site requests are refused (Origin does not match Host)'))
    return undefined
  }
  return caller
}

function methodNotAllowed (res: ServerResponse, allow: readonly string[]): void {
  sendError(res, new WardenError('WARDEN_ERR_API_METHOD', `method not allowed here; use ${allow.join(', ')}`), { allow: allow.join(', ') })
}

export function listenHttp (server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve(server.address() as AddressInfo)
    })
  })
}
