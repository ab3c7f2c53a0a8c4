// Sessions by client id (ending one removes it and frees the id) and connected clients (kicking one closes
// its connection; its session stays). Admins only for the controls.
import { api, session } from './api.js'
import { $, ask, done, failed, fmtTime, h, table } from './ui.js'

const adminOnly = (...nodes) => session.admin ? nodes : []

async function endSession (s) {
  const ok = await ask({
    title: `End the session of ${s.clientId}?`,
    intro: 'Its connection is closed without its will, its subscriptions and queued messages are removed, and the client id is free.',
    confirm: 'End session',
    danger: true
  })
  if (ok === null) return
  try {
    await api('DELETE', `/api/v1/sessions/${encodeURIComponent(s.clientId)}`)
    done(`Ended the session of ${s.clientId}`)
    await sessions.refresh()
  } catch (err) { failed(err) }
}

async function kick (c) {
  const intro = 'Its connection is closed without its will; its session stays and it may connect again.'
  if (await ask({ title: `Disconnect ${c.clientId}?`, intro, confirm: 'Disconnect', danger: true }) === null) return
  try {
    await api('DELETE', `/api/v1/clients/${encodeURIComponent(c.clientId)}`)
    done(`Disconnected ${c.clientId}`)
    await sessions.refresh()
  } catch (err) { failed(err) }
}

export const sessions = {
  render (root) {
    root.append(
      h('section.panel', {}, h('h2', {}, 'Connected clients'), h('div', { id: 'client-table' }, h('p.muted', {}, 'loading…'))),
      h('section.panel', {}, h('h2', {}, 'Sessions ', h('span.muted.small', {}, 'one per client id bound to an account')), h('div', { id: 'session-table' })))
  },
  async refresh () {
    const [clients, list] = await Promise.all([api('GET', '/api/v1/clients'), api('GET', '/api/v1/sessions')])
    $('#client-table')?.replaceChildren(table('client-list', ['Client id', 'Account', 'Address', 'Subscriptions', 'Since', ...adminOnly('')],
      clients.clients.map((c) => h('tr', { dataset: { clientId: c.clientId } },
        h('td.mono', {}, c.clientId), h('td', {}, c.username ?? '(anonymous)'), h('td.mono', {}, c.address ?? ''),
        h('td.mono', {}, c.subscriptions.map((s) => s.filter).join(', ')), h('td', {}, fmtTime(c.connectedAt)),
        ...adminOnly(h('td.actions', {}, h('button.small.danger', { type: 'button', onclick: () => kick(c), dataset: { action: 'kick' } }, 'Disconnect'))))),
      'no client is connected'))
    $('#session-table')?.replaceChildren(table('sessions', ['Client id', 'Account', 'Connected', 'Clean', '#Subscriptions', 'Since', ...adminOnly('')],
      list.sessions.map((s) => h('tr', { dataset: { clientId: s.clientId } },
        h('td.mono', {}, s.clientId), h('td', {}, s.account ?? '(anonymous)'), h('td', {}, s.connected ? 'yes' : 'no'), h('td', {}, s.clean ? 'yes' : 'no'),
        h('td.num', {}, String(s.subscriptions)), h('td', {}, fmtTime(s.since)),
        ...adminOnly(h('td.actions', {},
          h('button.small.danger', { type: 'button', onclick: () => endSession(s), dataset: { action: 'end-session' } }, 'End session'))))),
      'no session'))
  }
}
