// The registry: topics (and a page per topic), accounts and roles. Admins register, change and delete;
// observers see the same pages without the controls, and the API refuses them anyway.
import { api, rolePath, session, topicPath, userPath } from './api.js'
import { $, ask, done, failed, fmtDateTime, fmtRate, fmtTime, h, lines, table } from './ui.js'

const adminOnly = (...nodes) => session.admin ? nodes : []
const action = (label, onclick, cls = '') =>
  h(`button.small${cls}`, { type: 'button', onclick, dataset: { action: label.toLowerCase().replace(/ /g, '-') } }, label)
const addButton = (id, onclick, label) => adminOnly(h('button.primary', { id, type: 'button', onclick }, label))

async function run (fn) {
  try { await fn() } catch (err) { failed(err) }
}

function parseSchema (text) {
  if (text.trim() === '') return undefined
  try { return JSON.parse(text) } catch (err) { throw new Error(`schema: not JSON (${err.message})`) }
}

// ---------------------------------------------------------------- topics

async function registerTopic () {
  const v = await ask({
    title: 'Register a topic',
    intro: 'Owners may publish under the filter; {username} stands for each client\'s own name.',
    fields: [
      { name: 'filter', label: 'Topic filter', required: true, placeholder: 'sites/plant-1/#' },
      { name: 'owners', label: 'Owners (comma separated)', required: true, placeholder: 'device-01, device-02' },
      { name: 'schema', label: 'Payload JSON Schema (optional)', type: 'textarea', rows: 4, placeholder: '{"type":"object"}' }
    ],
    confirm: 'Register'
  })
  if (v === null) return
  await run(async () => {
    const schema = parseSchema(v.schema)
    const t = await api('POST', '/api/v1/topics', { filter: v.filter.trim(), owners: lines(v.owners), ...(schema !== undefined ? { schema } : {}) })
    done(`Registered ${t.filter} to ${t.owners.join(', ')}`, t.warnings)
    await topics.refresh()
  })
}

async function editOwners (t, after) {
  const v = await ask({
    title: `Owners of ${t.filter}`,
    fields: [{ name: 'owners', label: 'Owners (comma separated)', value: t.owners.join(', '), required: true }]
  })
  if (v === null) return
  await run(async () => {
    const r = await api('PATCH', topicPath(t.filter), { owners: lines(v.owners) })
    done(`${r.filter} is now owned by ${r.owners.join(', ')}`, r.warnings)
    await after()
  })
}

async function deleteTopic (t, after) {
  const ok = await ask({
    title: `Delete ${t.filter}?`,
    intro: `Its owners (${t.owners.join(', ')}) may no longer publish there unless a wider registration gives it to them.`,
    confirm: 'Delete',
    danger: true
  })
  if (ok === null) return
  await run(async () => {
    await api('DELETE', topicPath(t.filter))
    done(`Deleted the registration ${t.filter}`)
    await after()
  })
}

export const topics = {
  render (root) {
    root.append(h('section.panel', {},
      h('div.panel-head', {}, h('h2', {}, 'Topics'), ...addButton('register-topic', registerTopic, 'Register a topic')),
      h('div', { id: 'topic-table' }, h('p.muted', {}, 'loading…'))))
  },
  async refresh () {
    const data = await api('GET', '/api/v1/topics')
    const rows = [...data.topics].sort((a, b) => a.filter.localeCompare(b.filter))
    $('#topic-table')?.replaceChildren(table('topics', ['Filter', 'Owners', '#Subscribers', '#Messages', '#msg/s', 'Last publish', 'Schema', ...adminOnly('')],
      rows.map((t) => h('tr', { dataset: { filter: t.filter } },
        h('td.mono', {}, h('a', { href: `#/topic/${encodeURIComponent(t.filter)}` }, t.filter)),
        h('td.owners', {}, t.owners.join(', ') || h('span.muted', {}, 'nobody')),
        h('td.num', {}, String(t.subscribers)), h('td.num', {}, String(t.messages)), h('td.num.rate', {}, fmtRate(t.messagesPerSecond)),
        h('td', {}, fmtTime(t.lastPublishAt)), h('td', {}, t.schema ? 'yes' : ''),
        ...adminOnly(h('td.actions', {},
          action('Owners', () => editOwners(t, () => this.refresh())), action('Delete', () => deleteTopic(t, () => this.refresh()), '.danger'))))),
      'no topic is registered'))
  }
}

// ---------------------------------------------------------------- one topic

export const topicPage = {
  render (root, filter) {
    root.append(h('p', {}, h('a', { href: '#/topics' }, '← Topics')), h('div', { id: 'topic-page' }, h('p.muted', {}, 'loading…')))
  },
  async refresh (filter) {
    let t
    try {
      t = await api('GET', topicPath(filter))
    } catch (err) {
      if (err.status === 404) { $('#topic-page')?.replaceChildren(h('p', {}, `${filter} is not registered.`)); return }
      throw err
    }
    const back = () => this.refresh(filter)
    const recent = t.recentMessages === 'off'
      ? h('p.muted', {}, 'Recent messages are not kept (config dashboard.recentMessages is 0).')
      : t.recentMessages === 'not-allowed'
        ? h('p.muted', {}, 'Your roles do not let you read this topic, so its messages are not shown.')
        : table('recent', ['Time', 'Topic', 'QoS', '#Bytes', 'Payload'], [...t.recent].reverse().map((m) => h('tr', {},
          h('td', {}, fmtTime(m.ts)), h('td.mono', {}, m.topic), h('td', {}, String(m.qos) + (m.retain ? ' retained' : '')), h('td.num', {}, String(m.bytes)),
          h('td.mono.payload', {}, (m.encoding === 'base64' ? '(base64) ' : '') + m.preview + (m.truncated ? '…' : '')))),
        'no message since the broker started')
    $('#topic-page')?.replaceChildren(
      h('section.panel', {},
        h('div.panel-head', {}, h('h2.mono', { id: 'topic-filter' }, t.filter),
          ...adminOnly(action('Change owners', () => editOwners(t, back)), action('Edit schema', () => editSchema(t, back)),
            action('Delete', () => deleteTopic(t, () => { location.hash = '#/topics' }), '.danger'))),
        h('dl.pairs', {},
          h('dt', {}, 'Owners'), h('dd', { id: 'topic-owners' }, t.owners.join(', ') || 'nobody'),
          h('dt', {}, 'Messages'), h('dd', {}, `${t.messages} (${fmtRate(t.messagesPerSecond)} / s), last ${fmtDateTime(t.lastPublishAt)}`),
          h('dt', {}, 'Subscribers'), h('dd', {}, String(t.subscribers)))),
      h('div.split', {},
        h('section.panel', {}, h('h2', {}, 'Subscribers'), table('subscribers', ['Client id', 'Account', 'Subscription'],
          t.subscribedBy.map((s) => h('tr', {}, h('td.mono', {}, s.clientId), h('td', {}, s.username ?? '(anonymous)'), h('td.mono', {}, s.filter))),
          'no connected subscriber')),
        h('section.panel', {}, h('h2', {}, 'Payload schema'),
          t.schema ? h('pre', { id: 'topic-schema' }, JSON.stringify(t.schema, null, 2)) : h('p.muted', {}, 'none: any payload'))),
      h('section.panel', {}, h('h2', {}, 'Recent messages'), recent))
  }
}

async function editSchema (t, after) {
  const v = await ask({
    title: `Payload schema of ${t.filter}`,
    intro: 'Empty removes it.',
    fields: [{ name: 'schema', label: 'JSON Schema', type: 'textarea', rows: 10, value: t.schema ? JSON.stringify(t.schema, null, 2) : '' }]
  })
  if (v === null) return
  await run(async () => {
    await api('PATCH', topicPath(t.filter), { schema: parseSchema(v.schema) ?? null })
    done(`Changed the schema of ${t.filter}`)
    await after()
  })
}

// ---------------------------------------------------------------- accounts

let roleNames = []

async function createUser () {
  const v = await ask({
    title: 'Create an account',
    fields: [
      { name: 'username', label: 'Username', required: true },
      { name: 'password', label: 'Password (8 characters or more)', type: 'password', required: true },
      { name: 'roles', label: 'Roles', type: 'checkboxes', options: roleNames, value: ['producer'] }
    ],
    confirm: 'Create'
  })
  if (v === null) return
  await run(async () => {
    const u = await api('POST', '/api/v1/users', { username: v.username.trim(), password: v.password, roles: v.roles })
    done(`Created ${u.username} (roles: ${u.roles.join(', ') || 'none'})`)
    await accounts.refresh()
  })
}

async function resetPassword (u) {
  const v = await ask({
    title: `New password for ${u.username}`,
    intro: 'Its connected clients are disconnected; they log in again with the new password.',
    fields: [{ name: 'password', label: 'Password (8 characters or more)', type: 'password', required: true }]
  })
  if (v === null) return
  await run(async () => {
    await api('PATCH', userPath(u.username), { password: v.password })
    done(`Changed the password of ${u.username}`)
    await accounts.refresh()
  })
}

async function editRoles (u) {
  const v = await ask({ title: `Roles of ${u.username}`, fields: [{ name: 'roles', label: 'Roles', type: 'checkboxes', options: roleNames, value: u.roles }] })
  if (v === null) return
  await run(async () => {
    const r = await api('PATCH', userPath(u.username), { roles: v.roles })
    done(`${r.username} now has roles: ${r.roles.join(', ') || 'none'}`)
    await accounts.refresh()
  })
}

async function deleteUser (u) {
  const owns = u.owns.length > 0
    ? [h('p', {}, `It owns ${u.owns.length} registration${u.owns.length > 1 ? 's' : ''}; its name is taken off each ` +
        '(one left with no owner stays registered, to nobody):'),
      h('ul.owns', {}, u.owns.map((f) => h('li.mono', {}, f)))]
    : [h('p', {}, 'It owns no registration.')]
  const ok = await ask({
    title: `Delete ${u.username}?`,
    intro: [h('p', {}, `Its ${u.connections} connected client${u.connections === 1 ? ' is' : 's are'} disconnected (no will), its sessions removed.`), ...owns],
    confirm: 'Delete',
    danger: true
  })
  if (ok === null) return
  await run(async () => {
    const r = await api('DELETE', userPath(u.username))
    done(`Deleted ${r.username}${r.removedFrom.length > 0 ? `; no longer an owner of ${r.removedFrom.join(', ')}` : ''}`)
    await accounts.refresh()
  })
}

export const accounts = {
  render (root) {
    root.append(h('section.panel', {},
      h('div.panel-head', {}, h('h2', {}, 'Accounts'), ...addButton('create-user', createUser, 'Create an account')),
      h('div', { id: 'user-table' }, h('p.muted', {}, 'loading…'))))
  },
  async refresh () {
    const [users, roles] = await Promise.all([api('GET', '/api/v1/users'), api('GET', '/api/v1/roles')])
    roleNames = roles.roles.map((r) => r.name)
    $('#user-table')?.replaceChildren(table('users', ['Username', 'Roles', 'Loopback only', '#Connections', 'Owns', ...adminOnly('')],
      users.users.map((u) => h('tr', { dataset: { username: u.username } },
        h('td', {}, h('strong', {}, u.username)), h('td', {}, u.roles.join(', ') || '—'), h('td', {}, u.loopbackOnly ? 'yes' : ''),
        h('td.num', {}, String(u.connections)), h('td.mono.small', {}, u.owns.join(', ')),
        ...adminOnly(h('td.actions', {},
          action('Roles', () => editRoles(u)), action('Password', () => resetPassword(u)), action('Delete', () => deleteUser(u), '.danger'))))),
      'no account'))
  }
}

// ---------------------------------------------------------------- roles

async function editGrants (r) {
  const v = await ask({
    title: `What ${r.name} may read`,
    intro: 'One topic filter a line; {username} and {clientid} stand for the reader\'s own.',
    fields: [{ name: 'subscribe', label: 'Read grants', type: 'textarea', value: r.subscribe.join('\n') }]
  })
  if (v === null) return
  await run(async () => {
    const n = await api('PATCH', rolePath(r.name), { subscribe: v.subscribe.split('\n').map((s) => s.trim()).filter((s) => s !== '') })
    done(`${n.name} now reads ${n.subscribe.join(', ') || 'nothing'}`)
    await roles.refresh()
  })
}

async function createRole () {
  const v = await ask({
    title: 'Define a role',
    fields: [{ name: 'name', label: 'Name', required: true }, { name: 'subscribe', label: 'Read grants (one filter a line)', type: 'textarea' }],
    confirm: 'Create'
  })
  if (v === null) return
  await run(async () => {
    const n = await api('POST', '/api/v1/roles', { name: v.name.trim(), subscribe: v.subscribe.split('\n').map((s) => s.trim()).filter((s) => s !== '') })
    done(`Created role ${n.name}`)
    await roles.refresh()
  })
}

async function deleteRole (r) {
  if (await ask({ title: `Delete role ${r.name}?`, confirm: 'Delete', danger: true }) === null) return
  await run(async () => {
    await api('DELETE', rolePath(r.name))
    done(`Deleted role ${r.name}`)
    await roles.refresh()
  })
}

export const roles = {
  render (root) {
    root.append(h('section.panel', {},
      h('div.panel-head', {}, h('h2', {}, 'Roles'), ...addButton('create-role', createRole, 'Define a role')),
      h('div', { id: 'role-table' }, h('p.muted', {}, 'loading…'))))
  },
  async refresh () {
    const data = await api('GET', '/api/v1/roles')
    $('#role-table')?.replaceChildren(table('roles', ['Role', 'May read', 'Built in', '#Accounts', ...adminOnly('')],
      data.roles.map((r) => h('tr', { dataset: { role: r.name } },
        h('td', {}, h('strong', {}, r.name)), h('td.mono', {}, r.subscribe.join(', ') || '—'), h('td', {}, r.builtin ? 'yes' : ''),
        h('td.num', {}, String(r.users)),
        ...adminOnly(h('td.actions', {}, action('Grants', () => editGrants(r)), r.builtin ? null : action('Delete', () => deleteRole(r), '.danger'))))),
      'no role'))
  }
}
