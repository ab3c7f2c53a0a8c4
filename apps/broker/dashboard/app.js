// Warden's dashboard: reads the control plane's API (same origin, the browser's Basic credentials) and its
// server-sent events. Every value is written with textContent: nothing from the broker becomes markup.
import { drawChart } from './chart.js'

const WINDOW_MS = 120_000
const REFRESH_MS = 5000
const MAX_DENIALS = 50

const $ = (id) => document.getElementById(id)
const state = { samples: [], topics: new Map(), denials: [], denialTotal: 0 }

async function api (path) {
  const res = await fetch(path, { headers: { accept: 'application/json' } })
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`)
  return await res.json()
}

function cell (tr, text, cls) {
  const td = document.createElement('td')
  td.textContent = text
  if (cls) td.className = cls
  tr.appendChild(td)
  return td
}

function fillTable (id, rows, columns, empty) {
  const tbody = $(id).querySelector('tbody')
  tbody.replaceChildren()
  if (rows.length === 0) {
    const tr = document.createElement('tr')
    tr.className = 'empty'
    const td = cell(tr, empty)
    td.colSpan = columns
    tbody.appendChild(tr)
    return []
  }
  return rows.map((row) => {
    const tr = document.createElement('tr')
    tbody.appendChild(tr)
    return [tr, row]
  })
}

const fmtRate = (v) => (v >= 100 ? v.toFixed(0) : v.toFixed(1))
const fmtTime = (iso) => (iso ? new Date(iso).toLocaleTimeString() : '—')

function renderTopics () {
  const rows = [...state.topics.values()].sort((a, b) => a.filter.localeCompare(b.filter))
  for (const [tr, t] of fillTable('topics', rows, 7, 'no topic is registered')) {
    tr.dataset.filter = t.filter
    cell(tr, t.filter, 'mono')
    cell(tr, t.owners.join(', '))
    cell(tr, String(t.subscribers), 'num')
    cell(tr, String(t.messages), 'num')
    cell(tr, fmtRate(t.messagesPerSecond), 'num rate')
    cell(tr, fmtTime(t.lastPublishAt))
    cell(tr, t.schema ? 'yes' : '')
  }
}

function renderClients (clients) {
  for (const [tr, c] of fillTable('client-list', clients, 5, 'no client is connected')) {
    cell(tr, c.clientId, 'mono')
    cell(tr, c.username ?? '(anonymous)')
    cell(tr, c.roles.join(', '))
    cell(tr, c.subscriptions.map((s) => s.filter).join(', '), 'mono')
    cell(tr, fmtTime(c.connectedAt))
  }
}

function renderDenials () {
  const rows = [...state.denials].reverse()
  for (const [tr, d] of fillTable('denials', rows, 5, 'nothing was refused')) {
    cell(tr, fmtTime(d.ts))
    cell(tr, d.kind)
    cell(tr, d.reason, 'deny')
    cell(tr, d.username ?? '(anonymous)')
    const td = cell(tr, d.topic ?? '', 'mono')
    if (d.detail) td.title = d.detail
  }
  $('denials-total').textContent = String(state.denialTotal)
}

function renderRates (sample) {
  $('rate-in').textContent = fmtRate(sample.receivedPerSecond)
  $('rate-out').textContent = fmtRate(sample.sentPerSecond)
  $('clients').textContent = String(sample.clients)
  drawChart($('chart'), state.samples, WINDOW_MS)
}

async function refresh () {
  try {
    const [status, topics, clients, denials] = await Promise.all([api('/api/v1/status'), api('/api/v1/topics'), api('/api/v1/clients'), api('/api/v1/denials')])
    $('broker').textContent = `${status.brokerId} · MQTT ${status.listeners.mqtt}`
    $('registry').textContent = `${status.topics} · ${status.users}`
    state.topics = new Map(topics.topics.map((t) => [t.filter, t]))
    state.denialTotal = denials.total
    renderTopics()
    renderClients(clients.clients)
    renderDenials()
    $('error').textContent = ''
  } catch (err) {
    $('error').textContent = `cannot refresh: ${err.message}`
  }
}

function listen () {
  const events = new EventSource('/api/v1/events')
  const live = $('live')
  events.onopen = () => { live.textContent = 'live'; live.className = 'badge on' }
  events.onerror = () => { live.textContent = 'reconnecting…'; live.className = 'badge off' }
  events.addEventListener('hello', (e) => {
    const hello = JSON.parse(e.data)
    state.samples = hello.history
    state.denials = hello.denials.slice(-MAX_DENIALS)
    $('chart-window').textContent = `messages per second, sampled every ${hello.intervalMs} ms`
    renderDenials()
    if (state.samples.length > 0) renderRates(state.samples[state.samples.length - 1])
  })
  events.addEventListener('stats', (e) => {
    const s = JSON.parse(e.data)
    state.samples.push({ ts: s.ts, clients: s.clients, receivedPerSecond: s.receivedPerSecond, sentPerSecond: s.sentPerSecond })
    while (state.samples.length > 0 && state.samples[0].ts < s.ts - WINDOW_MS) state.samples.shift()
    for (const t of s.topics) {
      const known = state.topics.get(t.filter)
      if (known) Object.assign(known, t)
    }
    if (s.denials.length > 0) {
      state.denials.push(...s.denials)
      state.denials.splice(0, Math.max(0, state.denials.length - MAX_DENIALS))
      state.denialTotal += s.denials.length
      renderDenials()
    }
    renderTopics()
    renderRates(s)
  })
}

window.addEventListener('resize', () => drawChart($('chart'), state.samples, WINDOW_MS))
refresh()
setInterval(refresh, REFRESH_MS)
listen()
