// A small grouped horizontal bar chart as SVG text: no dependencies, readable on GitHub's white page.

const COLORS = ['#1f6feb', '#79c0ff', '#8b949e', '#d29922', '#2da44e']
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/**
 * @param {object} o
 * @param {string} o.title
 * @param {Array<{ title: string, values: Array<Array<number|null>>, format: (v: number) => string }>} o.panels
 *   values[group][series]
 * @param {string[]} o.groups   row labels
 * @param {string[]} o.series   legend labels
 * @param {string} o.footnote
 */
export function barChart ({ title, panels, groups, series, footnote }) {
  const labelW = 150
  const panelW = 330
  const gap = 40
  const barH = 7
  const groupGap = 10
  const groupH = series.length * barH + groupGap
  const top = 70
  const width = labelW + panels.length * (panelW + gap)
  const height = top + groups.length * groupH + 30
  const out = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
    'font-family="-apple-system,Segoe UI,Helvetica,Arial,sans-serif" font-size="11">')
  out.push('<rect width="100%" height="100%" fill="#ffffff"/>')
  out.push(`<text x="10" y="20" font-size="15" font-weight="600" fill="#24292f">${esc(title)}</text>`)
  series.forEach((s, i) => {
    const x = 10 + i * 150
    out.push(`<rect x="${x}" y="32" width="10" height="10" fill="${COLORS[i % COLORS.length]}"/><text x="${x + 14}" y="41" fill="#24292f">${esc(s)}</text>`)
  })
  groups.forEach((g, gi) => {
    const y = top + gi * groupH
    out.push(`<text x="${labelW - 8}" y="${y + (series.length * barH) / 2 + 4}" text-anchor="end" fill="#24292f">${esc(g)}</text>`)
    if (gi > 0) out.push(`<line x1="10" x2="${width - 10}" y1="${y - groupGap / 2}" y2="${y - groupGap / 2}" stroke="#eaeef2"/>`)
  })
  panels.forEach((p, pi) => {
    const x0 = labelW + pi * (panelW + gap)
    // a few far-off values (e.g. the level store at QoS 2) would squash every other bar: bars beyond 2.5
    // times the upper quartile are cut and marked, their label giving the full value
    const all = p.values.flat().filter((v) => v !== null && Number.isFinite(v)).sort((a, b) => a - b)
    const q3 = all[Math.floor(all.length * 0.75)] ?? 1
    const max = Math.max(...all.filter((v) => v <= 2.5 * q3), 1e-9)
    const scale = (panelW - 60) / max
    out.push(`<text x="${x0}" y="${top - 10}" font-weight="600" fill="#24292f">${esc(p.title)}</text>`)
    out.push(`<line x1="${x0}" x2="${x0}" y1="${top - 4}" y2="${top + groups.length * groupH - groupGap}" stroke="#8c959f"/>`)
    p.values.forEach((row, gi) => {
      row.forEach((v, si) => {
        const y = top + gi * groupH + si * barH
        if (v === null || !Number.isFinite(v)) {
          out.push(`<text x="${x0 + 3}" y="${y + barH - 1}" font-size="8" fill="#8c959f">n/a</text>`)
          return
        }
        const cut = v > max
        const w = Math.max(1, Math.min(v, max * 1.08) * scale)
        out.push(`<rect x="${x0}" y="${y}" width="${w.toFixed(1)}" height="${barH - 1}" fill="${COLORS[si % COLORS.length]}"/>`)
        if (cut) out.push(`<rect x="${(x0 + w - 8).toFixed(1)}" y="${y}" width="2" height="${barH - 1}" fill="#ffffff"/>`)
        out.push(`<text x="${(x0 + w + 3).toFixed(1)}" y="${y + barH - 1}" font-size="8" fill="#57606a">${esc(p.format(v))}${cut ? ' (cut)' : ''}</text>`)
      })
    })
  })
  out.push(`<text x="10" y="${height - 10}" font-size="10" fill="#57606a">${esc(footnote)}</text>`)
  out.push('</svg>')
  return out.join('\n') + '\n'
}
