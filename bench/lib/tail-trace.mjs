// `--trace=<dir>` (latency rows): what a Node process did while the slow messages were on their way. Installed
// in a broker (before it is imported, so that its timers are wrapped as they are created) or a load generator;
// records on the process's monotonic clock (process.hrtime, shared by every process of the machine, the clock
// the payloads' send times are written on), in µs:
//   gc      [start, duration, kind]                   every V8 pause (perf_hooks)
//   timers  [start, duration, label]                  every setInterval callback, and setTimeout callbacks
//                                                     of 0.2 ms or more; label: where it was created
//   rx, tx  [sendTime, t]                             a PUBLISH carrying a send time read from / written to a
//                                                     socket (broker only): splits a message's latency into
//                                                     publisher → broker, inside the broker, broker → subscriber
//   loop    { p50, p99, max }                         event-loop delay in ms (monitorEventLoopDelay, 1 ms resolution)
import net from 'node:net'
import { PerformanceObserver, monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { PAYLOAD_HEADER } from './wire.mjs'

const nowUs = () => Number(process.hrtime.bigint()) / 1e3
// performance.now() (ms since timeOrigin) → hrtime µs: both are uv_hrtime
const perfOffsetUs = nowUs() - performance.now() * 1e3

const GC_KINDS = { 1: 'scavenge', 2: 'mark-compact', 4: 'incremental', 8: 'weak-cb', 16: 'minor-mc' }
const SLOW_TIMEOUT_US = 200

/**
 * @param {{ sockets?: boolean, timers?: boolean }} what sockets: stamps of PUBLISH frames read and written
 *   (a broker); timers: wrap setInterval and setTimeout
 */
export function installTailTrace ({ sockets = false, timers = false } = {}) {
  let on = false
  let gc = []
  let tm = []
  let rx = []
  let tx = []
  const labels = [] // Error objects: their stacks are formatted only when dumped
  const loop = monitorEventLoopDelay({ resolution: 1 })

  new PerformanceObserver((list) => {
    if (!on) return
    for (const e of list.getEntries()) {
      const kind = e.detail?.kind ?? e.kind
      gc.push([perfOffsetUs + e.startTime * 1e3, e.duration * 1e3, GC_KINDS[kind] ?? String(kind)])
    }
  }).observe({ entryTypes: ['gc'] })

  if (timers) {
    const wrap = (orig, every) => function (cb, ms, ...args) {
      if (typeof cb !== 'function') return orig.call(this, cb, ms, ...args)
      const where = labels.push(new Error('created here')) - 1
      return orig.call(this, function (...a) {
        const t0 = nowUs()
        try { return cb.apply(this, a) } finally {
          const d = nowUs() - t0
          if (on && (every || d >= SLOW_TIMEOUT_US)) tm.push([t0, d, where])
        }
      }, ms, ...args)
    }
    globalThis.setInterval = wrap(globalThis.setInterval, true)
    globalThis.setTimeout = wrap(globalThis.setTimeout, false)
  }

  if (sockets) {
    const proto = net.Socket.prototype
    const push = proto.push
    proto.push = function (chunk, ...rest) {
      if (on && chunk !== null && chunk !== undefined) { const t = nowUs(); for (const s of stampsOf(chunk)) rx.push([s, t]) }
      return push.call(this, chunk, ...rest)
    }
    const generic = proto._writeGeneric
    proto._writeGeneric = function (writev, data, ...rest) {
      if (on) {
        const t = nowUs()
        // mqtt-packet writes a topic as a string: the frame is whole only with it
        const buf = writev
          ? Buffer.concat(data.map((d) => (typeof d.chunk === 'string' ? Buffer.from(d.chunk, d.encoding) : d.chunk ?? d)))
          : typeof data === 'string' ? Buffer.from(data, rest[0]) : data
        if (Buffer.isBuffer(buf)) for (const s of stampsOf(buf)) tx.push([s, t])
      }
      return generic.call(this, writev, data, ...rest)
    }
  }

  return {
    start () { gc = []; tm = []; rx = []; tx = []; loop.reset(); loop.enable(); on = true },
    stop () {
      on = false
      loop.disable()
      const where = new Map()
      const label = (i) => {
        if (!where.has(i)) {
          const frames = (labels[i].stack ?? '').split('\n').slice(3).map((l) => l.trim().replace(/^at /, ''))
          // the first frame in Warden's or a dependency's code, not this wrapper's or node's
          where.set(i, frames.find((f) => !f.includes('tail-trace') && !f.startsWith('node:')) ?? frames[0] ?? '?')
        }
        return where.get(i)
      }
      return {
        gc,
        timers: tm.map(([t, d, i]) => [t, d, label(i)]),
        rx,
        tx,
        loop: { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 }
      }
    }
  }
}

/** send times (µs) of the MQTT 3.1.1 PUBLISH frames that begin in `buf` (a frame cut by a read is skipped) */
function stampsOf (buf) {
  const out = []
  let o = 0
  while (o + 2 <= buf.length) {
    const type = buf[o] >> 4
    let len = 0
    let mult = 1
    let p = o + 1
    let b
    do {
      if (p >= buf.length) return out
      b = buf[p++]
      len += (b & 127) * mult
      mult *= 128
    } while ((b & 128) !== 0 && mult <= 128 ** 3)
    const end = p + len
    if (type === 3 && end <= buf.length) {
      const qos = (buf[o] >> 1) & 3
      const payload = p + 2 + buf.readUInt16BE(p) + (qos > 0 ? 2 : 0)
      if (end - payload >= PAYLOAD_HEADER) out.push(Number(buf.readBigUInt64LE(payload + 8)) / 1e3)
    }
    o = end
  }
  return out
}
