// What moves: the overview (cards and the traffic chart), the fleet (one row per account) and the refusals,
// fed by the API and by the server-sent events stream.
import { api, url } from './api.js'
import { drawChart } from './chart.js'
import { $, ago, fmtDateTime, fmtRate, fmtTime, h, table } from './ui.js'

const WINDOW_MS = 120_000
const MAX_DENIALS = 1000

const denialKey = (d) => [d.ts, d.kind, d.reason, d.username, d.clientId, d.topic, d.detail].join('\u0000')

export const state = { samples: [], denials: [], intervalMs: 1000, since: '', workers: undefined }

/** the events stream: samples for the chart, refusals as they happen */
export const live = {
  start (currentView) {
    const events = new EventSource(url('/api/v1/events'))
    const badge = $('#live')
    events.onopen = () => { badge.textContent = 'live'; badge.className = 'badge on' }
    events.onerror = () => { badge.textContent = 'reconnecting…'; badge.className = 'badge off' }
    events.addEventListener('hello', (e) => {
      const hello = JSON.parse(e.data)
      state.samples = hello.history
      state.denials = hello.denials
      state.intervalMs = hello.intervalMs
      // a cluster: the workers whose samples the chart sums
      state.workers = hello.workers
      currentView().view.onEvent?.()
    })
    events.addEventListener('stats', (e) => {
      const s = JSON.parse(e.data)
      state.samples.push({ ts: s.ts, clients: s.clients, receivedPerSecond: s.receivedPerSecond, sentPerSecond: s.sentPerSecond })
      if (s.workers) state.workers = s.workers.map((w) => w.worker)
      while (state.samples.length > 0 && state.samples[0].ts < s.ts - WINDOW_MS) state.samples.shift()
      if (s.denials.length > 0) {
        // a refusal the last refresh already read from the API is not listed twice
        const known = new Set(state.denials.slice(-200).map(denialKey))
        state.denials.push(...s.denials.filter((d) => !known.has(denialKey(d))))
        state.denials.splice(0, Math.max(0, state.denials.length - MAX_DENIALS))
      }
      currentView().view.onEvent?.(s)
    })
  }
}

function setSince (iso) {
  state.since = iso
  $('#since').textContent = `Counts and history since ${fmtDateTime(iso)} (the broker's start); they do not survive a restart.`
}

// ---------------------------------------------------------------- overview

function card (id, label, cls = '') {
  return h('div.card', {}, h('div.label', {}, label), h(`div.value${cls}`, { id }, '–'))
}

export const overview = {
  render (root) {
    root.append(
      h('section.cards', {},
        card('clients', 'Clients'), card('rate-in', 'Messages in / s', '.in'), card('rate-out', 'Messages out / s', '.out'),
        card('denials-total', 'Refusals', '.deny'), card('registry', 'Topics · Accounts')),
      h('section.panel', {}, h('h2', {}, 'Traffic ', h('span.muted.small', { id: 'chart-window' })),
        h('canvas', { id: 'chart', 'aria-label': 'messages per second, in and out' }),
        h('div.legend', {}, h('span.key.in'), 'in ', h('span.key.out'), 'out')),
      h('div.split', {},
        h('section.panel', {}, h('h2', {}, 'Busiest accounts ', h('a.small', { href: '#/fleet' }, 'fleet →')), h('div', { id: 'top-fleet' })),
        h('section.panel', {}, h('h2', {}, 'Latest refusals ', h('a.small', { href: '#/refusals' }, 'all →')), h('div', { id: 'top-denials' }))))
    this.onEvent()
  },
  async refresh () {
    const [status, fleetData] = await Promise.all([api('GET', '/api/v1/status'), api('GET', '/api/v1/fleet')])
    $('#broker').textContent = `${status.brokerId} · MQTT ${status.listeners.mqtt}`
    setSince(status.startedAt)
    if (!$('#registry')) return
    $('#registry').textContent = `${status.topics} · ${status.users}`
    // a cluster: the totals of every worker (status alone is the answering worker's)
    $('#denials-total').textContent = String(status.cluster?.denials ?? status.denials.total)
    $('#clients').textContent = String(status.cluster?.clients ?? status.clients)
    const busy = fleetData.accounts.filter((a) => a.messages > 0 || a.connected)
      .sort((a, b) => b.messagesPerSecond - a.messagesPerSecond || b.messages - a.messages).slice(0, 8)
    $('#top-fleet').replaceChildren(table('top-fleet-table', ['Account', 'Connected', '#msg/s', '#Messages'],
      busy.map((a) => h('tr', {},
        h('td', {}, a.username), h('td', {}, a.connected ? 'yes' : 'no'), h('td.num', {}, fmtRate(a.messagesPerSecond)), h('td.num', {}, String(a.messages)))),
      'no account has connected yet'))
  },
  onEvent () {
    const last = state.samples[state.samples.length - 1]
    if (!$('#chart')) return
    const of = state.workers && state.workers.length > 0 ? `, ${state.workers.length} worker${state.workers.length > 1 ? 's' : ''} summed` : ''
    $('#chart-window').textContent = `messages per second, sampled every ${state.intervalMs} ms${of}`
    if (last) {
      $('#rate-in').textContent = fmtRate(last.receivedPerSecond)
      $('#rate-out').textContent = fmtRate(last.sentPerSecond)
      $('#clients').textContent = String(last.clients)
    }
    drawChart($('#chart'), state.samples, WINDOW_MS)
    const rows = state.denials.slice(-8).reverse()
    $('#top-denials').replaceChildren(table('top-denials-table', ['Time', 'Reason', 'Account', 'Topic'],
      rows.map((d) => h('tr', { title: d.worker ? `refused by worker ${d.worker}` : '' },
        h('td', {}, fmtTime(d.ts)), h('td.deny', {}, d.reason), h('td', {}, d.username ?? '(anonymous)'), h('td.mono', {}, d.topic ?? ''))),
      'nothing was refused'))
  }
}
window.addEventListener('resize', () => { if ($('#chart')) drawChart($('#chart'), state.samples, WINDOW_MS) })

// ---------------------------------------------------------------- fleet

export const fleet = {
  render (root) {
    const about = 'one row per account: its devices\' connections, traffic and last refusal'
    const heading = h('h2', {}, 'Fleet ', h('span.muted.small', {}, about), h('span.muted.small', { id: 'fleet-note' }))
    root.append(h('section.panel', {}, heading,
      h('div', { id: 'fleet-table' }, h('p.muted', {}, 'loading…'))))
  },
  async refresh () {
    const data = await api('GET', '/api/v1/fleet')
    setSince(data.since)
    // connected accounts first, then by name (the API's order); the first 1000
    const rows = data.accounts
    const note = $('#fleet-note')
    const more = ` · the first ${rows.length} of ${data.total}, connected first (warden fleet --limit N for more)`
    if (note) note.textContent = data.total > rows.length ? more : ''
    $('#fleet-table')?.replaceChildren(table('fleet', ['Account', 'Roles', 'Connected', 'Last seen', '#Messages', '#msg/s', 'Last refusal'],
      rows.map((a) => {
        const r = a.lastRefusal
        return h('tr', { dataset: { username: a.username } },
          h('td', {}, h('strong', {}, a.username)),
          h('td.muted', {}, a.roles.join(', ')),
          h(`td.connected.${a.connected ? 'yes' : 'no'}`, { title: a.clients.join(', ') },
            a.connected ? `● ${a.clients.length} client${a.clients.length > 1 ? 's' : ''}` : '○ no'),
          h('td.seen', { title: a.lastSeen ?? '' }, ago(a.lastSeen)),
          h('td.num.messages', {}, String(a.messages)),
          h('td.num.rate', {}, fmtRate(a.messagesPerSecond)),
          h('td.refusal', { title: r?.topic ?? '' }, r ? h('span', {}, h('span.deny', {}, r.reason), ` ${r.kind} ${r.topic ?? ''} · ${ago(r.ts)}`) : '—'))
      }), 'no account is registered'))
  }
}

// ---------------------------------------------------------------- refusals

const filters = { username: '', reason: '', topic: '' }

function matches (d) {
  const topicOk = () => {
    if (filters.topic === '') return true
    if (!d.topic) return false
    if (!/[+#]/.test(filters.topic)) return d.topic.includes(filters.topic)
    const f = filters.topic.split('/')
    const t = d.topic.split('/')
    for (let i = 0; i < f.length; i++) {
      if (f[i] === '#') return true
      if (t[i] === undefined || (f[i] !== '+' && f[i] !== t[i])) return false
    }
    return f.length === t.length
  }
  return (filters.username === '' || (d.username ?? '') === filters.username) && (filters.reason === '' || d.reason === filters.reason) && topicOk()
}

export const refusals = {
  render (root) {
    const input = (name, placeholder) => h('input', {
      id: `filter-${name}`, placeholder, value: filters[name], oninput: (e) => { filters[name] = e.target.value.trim(); this.draw() }
    })
    const pick = (e) => { filters.reason = e.target.value; this.draw() }
    const reason = h('select', { id: 'filter-reason', onchange: pick }, h('option', { value: '' }, 'any reason'))
    root.append(h('section.panel', {},
      h('h2', {}, 'Refusals ', h('span.muted.small', { id: 'refusal-count' })),
      h('div.filters', {}, input('username', 'account'), reason, input('topic', 'topic or filter (sensors/#)')),
      h('div', { id: 'refusal-table' })))
    this.draw()
  },
  async refresh () {
    const data = await api('GET', '/api/v1/denials')
    setSince(data.since)
    // the stream's list and the API's agree: the API's is the reference after each refresh
    state.denials = data.recent
    state.total = data.total
    const select = $('#filter-reason')
    if (select) {
      const reasons = [...new Set(Object.keys(data.byReason).map((k) => k.split(':')[1]))].sort()
      const have = [...select.options].map((o) => o.value)
      for (const r of reasons) if (!have.includes(r)) select.append(h('option', { value: r }, r))
    }
    this.draw()
  },
  onEvent () { this.draw() },
  draw () {
    if (!$('#refusal-table')) return
    const rows = state.denials.filter(matches).reverse()
    const total = state.total !== undefined ? ` · ${state.total} since the broker started` : ''
    $('#refusal-count').textContent = `${rows.length} shown of the latest ${state.denials.length}${total}`
    // a cluster: the worker that refused
    const clustered = state.denials.some((d) => d.worker)
    $('#refusal-table').replaceChildren(table('denials', ['Time', ...clustered ? ['Worker'] : [], 'Kind', 'Reason', 'Account', 'Client id', 'Topic', 'Detail'],
      rows.map((d) => h('tr', {},
        h('td', { title: d.ts }, fmtTime(d.ts)), ...clustered ? [h('td.mono.worker', {}, d.worker ?? '')] : [],
        h('td', {}, d.kind), h('td.deny', {}, d.reason + (d.suppressed ? ` (+${d.suppressed})` : '')),
        h('td', {}, d.username ?? '(anonymous)'), h('td.mono', {}, d.clientId ?? ''), h('td.mono', {}, d.topic ?? ''),
        h('td.muted.small', {}, d.detail ?? ''))),
      state.denials.length === 0 ? 'nothing was refused' : 'no refusal matches these filters'))
  }
}
