// The CLI's side of the HTTP API: Basic credentials, JSON in and out, API errors kept with their code.
import { WardenError, type ErrorCode } from '@warden/common'

export interface ApiTarget {
  readonly url: string
  readonly username: string
  readonly password: string
}

/** An answer of the API that is not a success, or no answer at all. */
export class ApiError extends WardenError {
  constructor (code: ErrorCode, message: string, readonly status: number) {
    super(code, message)
  }
}

const TIMEOUT_MS = 15_000

export async function callApi (target: ApiTarget, method: string, path: string, body?: unknown): Promise<unknown> {
  const url = target.url.replace(/\/+$/, '') + path
  let res: Response
  try {
    res = await fetch(url, {
      method,
      headers: {
        authorization: 'Basic ' + Buffer.from(`${target.username}:${target.password}`).toString('base64'),
        accept: 'application/json',
        ...(body !== undefined ? { 'content-type': 'application/json' } : {})
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(TIMEOUT_MS)
    })
  } catch (err) {
    const cause = (err as { cause?: { code?: string, message?: string } }).cause
    const why = cause?.code ?? cause?.message ?? (err as Error).message
    throw new ApiError('WARDEN_ERR_API_UNREACHABLE', `cannot reach the broker API at ${target.url} (${why}); is the broker running? set WARDEN_URL or --url`, 0)
  }
  const text = await res.text()
  let data: unknown
  try { data = text === '' ? undefined : JSON.parse(text) } catch {
    throw new ApiError('WARDEN_ERR_API_UNREACHABLE', `${target.url} answered HTTP ${res.status} with something that is not Warden's API`, res.status)
  }
  if (res.ok) return data
  const error = (data as { error?: { code?: string, message?: string } } | undefined)?.error
  const code = (error?.code ?? 'WARDEN_ERR_INTERNAL') as ErrorCode
  throw new ApiError(code, error?.message ?? `HTTP ${res.status}`, res.status)
}
