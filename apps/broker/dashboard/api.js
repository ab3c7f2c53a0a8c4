// The dashboard's one way to the API: same origin (built from location.origin, so credentials typed into the
// address bar never reach a request URL), the session cookie, and the session's CSRF token on every change.

export const session = { username: '', roles: [], admin: false, observer: false, csrf: '', signedInAt: '', expiresAt: '' }

export const url = (path) => new URL(path, location.origin).href

/** the page's URL carries a user name or password (http://user:pass@host/…): Location has no fields for them */
export function hasCredentials () {
  const u = new URL(location.href)
  return u.username !== '' || u.password !== ''
}

export class ApiError extends Error {
  constructor (status, body) {
    super(body?.error?.message ?? `HTTP ${status}`)
    this.status = status
    this.code = body?.error?.code
  }
}

export function toLogin () {
  const back = location.hash && location.hash !== '#/' ? `#${encodeURIComponent(location.hash.slice(1))}` : ''
  location.replace(url('/dashboard/login.html') + back)
}

/** true while the periodic refresh runs: its requests say so, and do not count as someone at the page */
let background = false
export async function inBackground (fn) {
  background = true
  try { return await fn() } finally { background = false }
}

export async function api (method, path, body) {
  const headers = { accept: 'application/json' }
  if (background && method === 'GET') headers['x-warden-background'] = '1'
  if (body !== undefined) headers['content-type'] = 'application/json'
  if (method !== 'GET') headers['x-csrf-token'] = session.csrf
  const res = await fetch(url(path), {
    method, headers, credentials: 'same-origin', cache: 'no-store', ...(body !== undefined ? { body: JSON.stringify(body) } : {})
  })
  const text = await res.text()
  const data = text === '' ? undefined : JSON.parse(text)
  if (res.status === 401) { toLogin(); throw new ApiError(401, data) }
  if (!res.ok) throw new ApiError(res.status, data)
  return data
}

/** starts the page: the session, or the sign-in page */
export async function loadSession () {
  const res = await fetch(url('/auth/session'), { credentials: 'same-origin', cache: 'no-store' })
  if (res.status !== 200) { toLogin(); return false }
  Object.assign(session, await res.json())
  return true
}

export async function signOut () {
  await fetch(url('/auth/logout'), { method: 'POST', headers: { 'x-csrf-token': session.csrf }, credentials: 'same-origin' })
  toLogin()
}

export const topicPath = (filter) => `/api/v1/topics/${encodeURIComponent(filter)}`
export const userPath = (name) => `/api/v1/users/${encodeURIComponent(name)}`
export const rolePath = (name) => `/api/v1/roles/${encodeURIComponent(name)}`
