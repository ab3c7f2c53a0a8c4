// JSON answers and coded error answers of the HTTP API, with the security headers every answer carries.
import type { ServerResponse } from 'node:http'
import { isWardenError, type ErrorCode } from '@warden/common'
import { FieldError } from '../registry/field-error.js'

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store'
}

const STATUS: Partial<Record<ErrorCode, number>> = {
  WARDEN_ERR_API_BAD_REQUEST: 400,
  WARDEN_ERR_UNKNOWN_ROLE: 400,
  WARDEN_ERR_TOPIC_FILTER: 400,
  WARDEN_ERR_PAYLOAD_SCHEMA: 400,
  WARDEN_ERR_PASSWORD_HASH: 400,
  WARDEN_ERR_API_UNAUTHORIZED: 401,
  WARDEN_ERR_API_FORBIDDEN: 403,
  WARDEN_ERR_API_CSRF: 403,
  WARDEN_ERR_API_NOT_FOUND: 404,
  WARDEN_ERR_API_METHOD: 405,
  WARDEN_ERR_API_CONFLICT: 409,
  WARDEN_ERR_API_TOO_LARGE: 413,
  WARDEN_ERR_API_THROTTLED: 429,
  WARDEN_ERR_API_LOGIN_PENDING: 429,
  WARDEN_ERR_REGISTRY: 503,
  WARDEN_ERR_API_SESSIONS_FULL: 503,
  WARDEN_ERR_API_SESSIONS_UNAVAILABLE: 503
}

export function sendJson (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = status === 204 ? '' : JSON.stringify(body) + '\n'
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    ...(status === 204 ? {} : { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(text)) }),
    ...headers
  })
  res.end(text)
}

/** Answers a coded error with its status; anything else is a 500 whose detail stays in the log. */
/** `challenge`: a 401 names HTTP Basic (false for the dashboard's requests: a browser would show its own prompt) */
export function sendError (res: ServerResponse, err: unknown, headers: Record<string, string> = {}, challenge = true): number {
  if (!isWardenError(err) || STATUS[err.code] === undefined) {
    sendJson(res, 500, { error: { code: 'WARDEN_ERR_INTERNAL', message: 'internal error (see the broker log)' } })
    return 500
  }
  const status = STATUS[err.code] as number
  const extra: Record<string, string> = status === 401 && challenge ? { 'www-authenticate': 'Basic realm="warden", charset="UTF-8"' } : {}
  const body = { error: { code: err.code, message: err.message, ...(err instanceof FieldError ? { field: err.field } : {}) } }
  sendJson(res, status, body, { ...extra, ...headers })
  return status
}
