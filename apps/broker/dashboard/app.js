// Warden's dashboard: signs in (or sends to the sign-in page), then shows one view at a time, chosen by the
// URL's hash (#/fleet, #/topic/<filter>…). Each view reads the API for itself and is refreshed every few
// seconds; the rates and refusals also arrive by server-sent events. Admins get the controls, observers not.
import { api, hasCredentials, inBackground, loadSession, session, signOut, url } from './api.js'
import { $, h } from './ui.js'
import { live, overview, fleet, refusals } from './views-live.js'
import { topics, topicPage, accounts, roles } from './views-registry.js'
import { sessions } from './views-sessions.js'

const REFRESH_MS = 3000
const VIEWS = { overview, fleet, topics, topic: topicPage, accounts, roles, sessions, refusals }
let current = { view: overview, name: 'overview' }

function route () {
  const path = location.hash.replace(/^#\/?/, '')
  const [name, ...rest] = path.split('/')
  const view = VIEWS[name] ?? overview
  const param = rest.length > 0 ? decodeURIComponent(rest.join('/')) : undefined
  current = { view, name: VIEWS[name] ? name : 'overview', param }
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.view === (current.name === 'topic' ? 'topics' : current.name))
  const root = $('#view')
  root.replaceChildren()
  root.className = `view-${current.name}`
  view.render(root, param)
  refresh()
}

let refreshing = false
async function refresh (timer = false) {
  // a form being filled in is not redrawn under the user's hands; the timer waits for a refresh still running
  if (document.querySelector('dialog[open]') || (timer && refreshing)) return
  refreshing = true
  try {
    // the timer's refreshes are no sign of someone at the page: an unattended one idles out
    if (timer) await inBackground(() => current.view.refresh?.(current.param))
    else await current.view.refresh?.(current.param)
    $('#error').textContent = ''
  } catch (err) {
    if (err.status !== 401) $('#error').textContent = `cannot refresh: ${err.message}`
  } finally {
    refreshing = false
  }
}

async function start () {
  // credentials typed into the address bar stay out of every request: a clean URL first
  if (hasCredentials()) { location.replace(url(location.pathname) + location.hash); return }
  if (!await loadSession()) return
  document.body.classList.toggle('is-admin', session.admin)
  $('#me').replaceChildren(h('strong', {}, session.username), ` · ${session.admin ? 'admin' : 'observer'}`)
  $('#sign-out').addEventListener('click', () => signOut())
  api('GET', '/api/v1/status').then((s) => { $('#broker').textContent = `${s.brokerId} · MQTT ${s.listeners.mqtt}` }, () => {})
  live.start(() => current)
  window.addEventListener('hashchange', route)
  route()
  setInterval(() => refresh(true), REFRESH_MS)
}

start()
