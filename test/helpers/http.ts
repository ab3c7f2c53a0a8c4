// Real HTTP requests (node fetch) to a test broker's control plane, with HTTP Basic credentials.
import { request as httpRequest } from 'node:http'
import { PASSWORD, type TestBroker } from './broker.js'

export interface Reply {
  readonly status: number
  readonly headers: Headers
  /** parsed JSON, or the text when the body is not JSON, or undefined when empty */
  readonly body: any
}

export interface RequestOptions {
  /** username (password PASSWORD), or [username, password], or null for no credentials */
  as?: string | [string, string] | null
  body?: unknown
  /** a raw body, sent as is */
  raw?: string
  headers?: Record<string, string>
}

export function basic (username: string, password = PASSWORD): string {
  return 'Basic ' + Buffer.from(`${username}:${password}`).toString('base64')
}

export function httpUrl (tb: TestBroker, path = ''): string {
  return `http://127.0.0.1:${tb.broker.http.port}${path}`
}

export async function request (tb: TestBroker, method: string, path: string, opts: RequestOptions = {}): Promise<Reply> {
  const as = opts.as === undefined ? 'admin' : opts.as
  const headers: Record<string, string> = { ...opts.headers }
  if (as !== null) headers.authorization = typeof as === 'string' ? basic(as) : basic(as[0], as[1])
  let body: string | undefined = opts.raw
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body)
    headers['content-type'] ??= 'application/json'
  }
  const res = await fetch(httpUrl(tb, path), { method, headers, ...(body !== undefined ? { body } : {}), redirect: 'manual' })
  const text = await res.text()
  let parsed: unknown
  if (text !== '') {
    try { parsed = JSON.parse(text) } catch { parsed = text }
  }
  return { status: res.status, headers: res.headers, body: parsed }
}

export const get = (tb: TestBroker, path: string, opts?: RequestOptions): Promise<Reply> => request(tb, 'GET', path, opts)
export const post = (tb: TestBroker, path: string, body: unknown, opts?: RequestOptions): Promise<Reply> => request(tb, 'POST', path, { ...opts, body })
export const patch = (tb: TestBroker, path: string, body: unknown, opts?: RequestOptions): Promise<Reply> => request(tb, 'PATCH', path, { ...opts, body })
export const del = (tb: TestBroker, path: string, opts?: RequestOptions): Promise<Reply> => request(tb, 'DELETE', path, opts)

/** `/api/v1/topics/<filter>` with the filter percent-encoded ('#' must be). */
export function topicPath (filter: string): string {
  return `/api/v1/topics/${encodeURIComponent(filter)}`
}

/** A GET from a given loopback source address (fetch cannot choose one): the status and Retry-After. */
export function getFrom (
  tb: TestBroker, localAddress: string, path: string, as: [string, string]
): Promise<{ status: number, retryAfter: string | undefined }> {
  return new Promise((resolve, reject) => {
    const options = { host: '127.0.0.1', port: tb.broker.http.port, path, localAddress, agent: false, headers: { authorization: basic(as[0], as[1]) } }
    const req = httpRequest(options, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] }))
    })
    req.on('error', reject)
    req.end()
  })
}
