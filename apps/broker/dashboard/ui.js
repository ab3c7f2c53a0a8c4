// DOM helpers: elements built with textContent only (nothing from the broker becomes markup), tables, the
// notice bar, and a modal dialog for forms and confirmations.

export const $ = (sel, root = document) => root.querySelector(sel)

/** h('td.num', {title}, 'text', child…) */
export function h (tag, attrs = {}, ...children) {
  const [name, ...classes] = tag.split('.')
  const el = document.createElement(name)
  if (classes.length > 0) el.className = classes.join(' ')
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v)
    else if (k === 'dataset') Object.assign(el.dataset, v)
    else if (k in el && typeof v !== 'string') el[k] = v
    else el.setAttribute(k, v === true ? '' : v)
  }
  for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) el.append(c instanceof Node ? c : String(c))
  return el
}

export function table (id, head, rows, empty) {
  const tbody = h('tbody')
  if (rows.length === 0) tbody.append(h('tr.empty', {}, h('td', { colSpan: head.length }, empty)))
  else tbody.append(...rows)
  return h('table', { id }, h('thead', {}, h('tr', {}, head.map((c) => c.startsWith('#') ? h('th.num', {}, c.slice(1)) : h('th', {}, c)))), tbody)
}

export const fmtRate = (v) => (v >= 100 ? v.toFixed(0) : v.toFixed(1))
export const fmtTime = (iso) => (iso ? new Date(iso).toLocaleTimeString() : '—')
export const fmtDateTime = (iso) => (iso ? new Date(iso).toLocaleString() : '—')

export function ago (iso) {
  if (!iso) return 'never'
  const s = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000))
  if (s < 5) return 'now'
  if (s < 90) return `${s} s ago`
  if (s < 5400) return `${Math.round(s / 60)} min ago`
  if (s < 129600) return `${Math.round(s / 3600)} h ago`
  return `${Math.round(s / 86400)} d ago`
}

/** the bar under the header: what a change did, its warnings, or what failed */
export function notice (kind, text, items = []) {
  const bar = $('#notice')
  const list = items.length > 0 ? [h('ul', {}, items.map((i) => h('li', {}, i)))] : []
  bar.replaceChildren(h('div', {}, text), ...list, h('button.link', { type: 'button', onclick: () => { bar.hidden = true } }, 'dismiss'))
  bar.className = `notice ${kind}`
  bar.hidden = false
}

/** shows a change's answer: its warnings (a registration taking from someone, an unknown owner) stay until dismissed */
export function done (text, warnings = []) {
  if (warnings.length > 0) notice('warn', `${text}, with warnings:`, warnings.map((w) => w.message))
  else notice('ok', text)
}

export function failed (err) {
  notice('error', err.message)
}

/**
 * A modal form. fields: [{ name, label, type: text|password|textarea|checkboxes, value, options, required, placeholder }].
 * Resolves with the values, or null when cancelled.
 */
export function ask ({ title, intro = [], fields = [], confirm = 'Save', danger = false }) {
  return new Promise((resolve) => {
    const inputs = {}
    const rows = fields.map((f) => {
      let input
      if (f.type === 'textarea') input = h('textarea', { name: f.name, rows: f.rows ?? 6, placeholder: f.placeholder ?? '' }, f.value ?? '')
      else if (f.type === 'checkboxes') {
        const box = (o) => h('input', { type: 'checkbox', name: f.name, value: o, checked: (f.value ?? []).includes(o) })
        input = h('div.checks', {}, f.options.map((o) => h('label', {}, box(o), ` ${o}`)))
      } else {
        input = h('input', {
          name: f.name, type: f.type ?? 'text', value: f.value ?? '', required: f.required === true, placeholder: f.placeholder ?? '',
          autocomplete: f.type === 'password' ? 'new-password' : 'off'
        })
      }
      inputs[f.name] = input
      return h('label.field', {}, h('span', {}, f.label), input)
    })
    const form = h('form', { method: 'dialog' }, h('h3', {}, title), ...[intro].flat().map((p) => p instanceof Node ? p : h('p', {}, p)), ...rows,
      h('div.dialog-actions', {}, h('button', { type: 'button', value: 'cancel', onclick: () => close(null) }, 'Cancel'),
        h(danger ? 'button.danger' : 'button.primary', { type: 'submit', value: 'ok' }, confirm)))
    const dialog = h('dialog', {}, form)
    const close = (value) => { dialog.close(); dialog.remove(); resolve(value) }
    form.addEventListener('submit', (e) => {
      e.preventDefault()
      const values = {}
      for (const f of fields) {
        values[f.name] = f.type === 'checkboxes'
          ? [...form.querySelectorAll(`input[name="${f.name}"]:checked`)].map((i) => i.value)
          : inputs[f.name].value
      }
      close(values)
    })
    dialog.addEventListener('cancel', (e) => { e.preventDefault(); close(null) })
    document.body.append(dialog)
    dialog.showModal()
  })
}

export const lines = (text) => text.split(/[\n,]/).map((s) => s.trim()).filter((s) => s !== '')
