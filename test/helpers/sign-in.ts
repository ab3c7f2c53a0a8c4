// The dashboard's sign-in seen from a browser: one HTTP request at a time with node:http (a chosen source
// address; cookies and Origin sent as given), a sign-in that keeps the cookie and the CSRF token.
import { request as httpRequest } from 'node:http'
import { expect } from 'vitest'
import { PASSWORD, type TestBroker } from './broker.js'

export interface Answer { status: number, headers: Record<string, string | string[] | undefined>, body: any }

/** one HTTP request (node:http: a chosen source address, cookies and Origin sent as given) */
export function send (
  tb: TestBroker, method: string, path: string, opts: { headers?: Record<string, string>, body?: unknown, from?: string } = {}
): Promise<Answer> {
  const body = opts.body === undefined ? undefined : JSON.stringify(opts.body)
  const headers: Record<string, string> = { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...opts.headers }
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: '127.0.0.1', port: tb.broker.http.port, method, path, headers, agent: false, ...(opts.from !== undefined ? { localAddress: opts.from } : {})
    }, (res) => {
      let text = ''
      res.on('data', (d: Buffer) => { text += d.toString() })
      res.on('end', () => {
        let parsed: unknown
        try { parsed = text === '' ? undefined : JSON.parse(text) } catch { parsed = text }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed })
      })
    })
    req.on('error', reject)
    req.end(body)
  })
}

export interface Signed { cookie: string, csrf: string, setCookie: string }

export async function signIn (tb: TestBroker, username: string, password = PASSWORD, headers: Record<string, string> = {}): Promise<Signed> {
  const a = await send(tb, 'POST', '/auth/login', { body: { username, password }, headers })
  expect(a.status, JSON.stringify(a.body)).toBe(200)
  const setCookie = (a.headers['set-cookie'] as string[])[0] as string
  return { cookie: setCookie.split(';')[0] as string, csrf: a.body.csrf, setCookie }
}

export const withCookie = (s: Signed, extra: Record<string, string> = {}): Record<string, string> => ({ cookie: s.cookie, ...extra })
