// The sign-in page: posts the username and password as JSON (the session cookie comes back HttpOnly), then
// opens the dashboard at the page the visitor was sent here from.
const form = document.getElementById('login')
const error = document.getElementById('login-error')
const button = document.getElementById('sign-in')
const url = (path) => new URL(path, location.origin).href
const hasCredentials = () => { const u = new URL(location.href); return u.username !== '' || u.password !== '' }

// credentials typed into the address bar (http://user:pass@host/) stay out of every request: a clean URL first
if (hasCredentials()) location.replace(url(location.pathname) + location.hash)

function show (text) {
  error.textContent = text
  error.hidden = false
}

form.addEventListener('submit', async (e) => {
  e.preventDefault()
  error.hidden = true
  button.disabled = true
  try {
    const res = await fetch(url('/auth/login'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      credentials: 'same-origin',
      body: JSON.stringify({ username: form.username.value, password: form.password.value })
    })
    if (res.ok) {
      const back = decodeURIComponent(location.hash.slice(1))
      location.replace(url('/dashboard/') + (back.startsWith('/') ? `#${back}` : ''))
      return
    }
    const body = await res.json().catch(() => ({}))
    if (res.status === 429) {
      show(`Too many sign-in attempts: try again in ${res.headers.get('retry-after') ?? 'a few'} s. (${body.error?.message ?? ''})`)
    } else if (res.status === 401) {
      show('Wrong username or password.')
    } else {
      show(body.error?.message ?? `Sign-in failed (HTTP ${res.status}).`)
    }
    form.password.select()
  } catch (err) {
    show(`Cannot reach the broker: ${err.message}`)
  } finally {
    button.disabled = false
  }
})
