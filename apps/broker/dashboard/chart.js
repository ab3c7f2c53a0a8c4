// A small line chart on a canvas: two series (messages in and out per second) over time. No dependencies.

const COLORS = { in: '#2563eb', out: '#16a34a', grid: '#e5e7eb', text: '#6b7280' }

function niceMax (v) {
  if (v <= 0) return 1
  const p = 10 ** Math.floor(Math.log10(v))
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p
  return 10 * p
}

/**
 * samples: [{ ts, receivedPerSecond, sentPerSecond }], oldest first. The time axis spans the data, between
 * 30 s and `maxWindowMs`.
 */
export function drawChart (canvas, samples, maxWindowMs) {
  const dpr = window.devicePixelRatio || 1
  const w = canvas.clientWidth
  const h = canvas.clientHeight
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr)
    canvas.height = Math.round(h * dpr)
  }
  const g = canvas.getContext('2d')
  g.setTransform(dpr, 0, 0, dpr, 0, 0)
  g.clearRect(0, 0, w, h)
  const left = 48
  const bottom = h - 20
  const top = 8
  const right = w - 8
  const now = samples.length > 0 ? samples[samples.length - 1].ts : Date.now()
  const span = samples.length > 0 ? now - samples[0].ts : 0
  const windowMs = Math.min(maxWindowMs, Math.max(30_000, Math.ceil(span / 10_000) * 10_000))
  const from = now - windowMs
  const visible = samples.filter((s) => s.ts >= from)
  const max = niceMax(Math.max(0, ...visible.map((s) => Math.max(s.receivedPerSecond, s.sentPerSecond))) * 1.1)
  const x = (ts) => left + ((ts - from) / windowMs) * (right - left)
  const y = (v) => bottom - (v / max) * (bottom - top)

  g.font = '11px system-ui, sans-serif'
  g.fillStyle = COLORS.text
  g.strokeStyle = COLORS.grid
  g.lineWidth = 1
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4
    const yy = Math.round(y(v)) + 0.5
    g.beginPath(); g.moveTo(left, yy); g.lineTo(right, yy); g.stroke()
    g.textAlign = 'right'; g.textBaseline = 'middle'
    g.fillText(v >= 100 ? v.toFixed(0) : String(Math.round(v * 10) / 10), left - 6, yy)
  }
  g.textBaseline = 'top'
  const step = windowMs > 60_000 ? 30 : 10
  for (let s = 0; s <= windowMs / 1000; s += step) {
    g.textAlign = s === 0 ? 'right' : 'center'
    g.fillText(s === 0 ? 'now' : `-${s}s`, x(now - s * 1000), bottom + 4)
  }
  // 'out' dashed on top of 'in': when every message has one reader the two lines coincide
  for (const [key, color, dash] of [['receivedPerSecond', COLORS.in, []], ['sentPerSecond', COLORS.out, [6, 4]]]) {
    if (visible.length < 2) continue
    g.strokeStyle = color
    g.lineWidth = 2
    g.setLineDash(dash)
    g.beginPath()
    visible.forEach((s, i) => { const px = x(s.ts); const py = y(s[key]); if (i === 0) g.moveTo(px, py); else g.lineTo(px, py) })
    g.stroke()
  }
  g.setLineDash([])
}
