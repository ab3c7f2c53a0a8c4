// A load-generator process: publishing, subscribing or idle MQTT connections, driven over IPC by
// bench/run.mjs. It reports its own CPU so the harness can tell when the generator, not the broker, was
// the limit.
import net from 'node:net'
import {
  CONNACK, PAYLOAD_HEADER, PINGRESP, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, SUBACK,
  connectFrame, createFrameReader, publishTemplate, skipProperties, subscribeFrame, writeAck
} from './lib/wire.mjs'
import { installTailTrace } from './lib/tail-trace.mjs'

const spec = await new Promise((resolve) => process.once('message', (m) => resolve(m.spec)))
const { role, port, host = '127.0.0.1', localAddress } = spec
// --trace: this process's GC pauses beside its latency samples (a subscriber's pause delays its reads)
const trace = spec.trace === true ? installTailTrace() : null
/** 4: MQTT 3.1.1; 5: MQTT 5 */
const version = spec.protocolVersion ?? 4
const clients = []
let total = 0 // messages written (pub) or received (sub)

const nowNs = () => process.hrtime.bigint()
const reply = (msg) => process.send(msg)
const fail = (message) => { console.error(`gen-child (${role}): ${message}`); reply({ type: 'error', message }); setTimeout(() => process.exit(1), 50) }

/** Connects one client, waits for CONNACK (and SUBACK); then hands its frames to `onFrame`. */
function open (c, onFrame) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host, ...(localAddress ? { localAddress } : {}), noDelay: true })
    socket.setNoDelay(true)
    let state = 'connack'
    let handler = (type, flags, buf, s, e) => {
      if (state === 'connack') {
        if (type !== CONNACK || buf[s + 1] !== 0) { reject(new Error(`${c.clientId}: CONNACK ${buf[s + 1]}`)); socket.destroy(); return }
        if (c.subs === undefined || c.subs.length === 0) { state = 'ready'; handler = onFrame; resolve(socket); return }
        state = 'suback'
        socket.write(subscribeFrame(1, c.subs, version))
      } else if (state === 'suback' && type === SUBACK) {
        const first = version === 5 ? skipProperties(buf, s + 2) : s + 2
        for (let i = first; i < e; i++) {
          if (buf[i] >= 0x80) { reject(new Error(`${c.clientId}: SUBACK refused ${c.subs[i - first][0]}`)); socket.destroy(); return }
        }
        state = 'ready'
        handler = onFrame
        resolve(socket)
      }
    }
    const push = createFrameReader((type, flags, buf, s, e) => handler(type, flags, buf, s, e))
    socket.on('data', (chunk) => { push(chunk); c.afterChunk?.() })
    socket.on('error', (err) => { if (state !== 'ready') reject(err); else if (!closing) fail(`${c.clientId}: ${err.message}`) })
    socket.on('close', () => { if (state === 'ready' && !closing) fail(`${c.clientId}: connection closed by the broker`) })
    socket.write(connectFrame(c, version))
  })
}

async function openAll (list, makeHandler) {
  const limit = spec.connectConcurrency ?? 64
  let next = 0
  async function worker () {
    while (next < list.length) {
      const c = list[next++]
      c.socket = await open(c, makeHandler(c))
      clients.push(c)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, list.length) }, worker))
}

// --- publishers -------------------------------------------------------------------------------------
const { qos = 0, payloadSize = 64, window = 64, rate = 0, stamp = false } = spec
const BATCH = 32
const ACK_SCRATCH = 16 * 1024 // bytes of acknowledgements gathered per read before one write
let running = false
let timer = null
let t0 = 0n

function buildBatch (c, n) {
  const tmpls = c.tmpls
  const out = Buffer.allocUnsafe(c.maxFrame * n)
  const ts = stamp ? nowNs() : 0n
  let o = 0
  for (let k = 0; k < n; k++) {
    const { frame, payloadOffset, idOffset } = tmpls[c.ti]
    c.ti = c.ti + 1 === tmpls.length ? 0 : c.ti + 1
    frame.copy(out, o)
    if (idOffset >= 0) {
      c.nextId = c.nextId === 65535 ? 1 : c.nextId + 1
      out[o + idOffset] = c.nextId >> 8
      out[o + idOffset + 1] = c.nextId & 0xff
    }
    const p = o + payloadOffset
    out.writeUInt32LE(c.pubIndex, p)
    out.writeUInt32LE(c.seq++, p + 4)
    if (stamp) out.writeBigUInt64LE(ts, p + 8)
    o += frame.length
  }
  total += n
  return o === out.length ? out : out.subarray(0, o)
}

// QoS 0 has no acknowledgement, so a publisher that only follows socket back-pressure runs far ahead of
// what aedes delivers: its bus queue grows to tens of thousands, Array#shift on it eats the CPU, and the
// broker collapses. A PINGREQ after every batch, with a few unanswered at most, keeps the offered load at
// what the broker takes (brokers answer PINGREQ in order with the publishes before it). --flood turns it off.
const PINGREQ = Buffer.from([0xc0, 0x00])
const PINGS_IN_FLIGHT = spec.pingWindow ?? 4

function pumpQos0 (c) {
  if (!running || c.blocked) return
  for (let k = 0; k < 8; k++) {
    if (PINGS_IN_FLIGHT > 0) {
      if (c.pings >= PINGS_IN_FLIGHT) return // the PINGRESP handler pumps again
      c.pings++
      c.socket.write(buildBatch(c, BATCH))
      if (!c.socket.write(PINGREQ)) { c.blocked = true; c.socket.once('drain', () => { c.blocked = false; pumpQos0(c) }); return }
      continue
    }
    if (!c.socket.write(buildBatch(c, BATCH))) {
      c.blocked = true
      c.socket.once('drain', () => { c.blocked = false; pumpQos0(c) })
      return
    }
  }
  setImmediate(pumpQos0, c)
}

function pumpWindow (c) {
  const n = window - c.inflight
  if (!running || n < Math.min(BATCH, window >> 1)) return
  c.inflight += n
  c.socket.write(buildBatch(c, n))
}

function tickRate () {
  const elapsedUs = Number(nowNs() - t0) / 1e3
  for (const c of clients) {
    const due = Math.floor(elapsedUs * rate / 1e6) - c.seq
    const n = qos === 0 ? Math.min(due, 10000) : Math.min(due, window - c.inflight)
    if (n <= 0) continue
    c.inflight += qos === 0 ? 0 : n
    c.socket.write(buildBatch(c, n))
  }
}

function pubHandler (c) {
  const acks = Buffer.allocUnsafe(ACK_SCRATCH)
  let ao = 0
  c.afterChunk = () => {
    if (ao > 0) { c.socket.write(Buffer.from(acks.subarray(0, ao))); ao = 0 }
    if (rate === 0 && qos > 0) pumpWindow(c)
  }
  return (type, flags, buf, s) => {
    if (type === PUBACK || type === PUBCOMP) { c.inflight--; c.acked++ } else if (type === PINGRESP) {
      c.pings--
      if (running && c.pings === PINGS_IN_FLIGHT - 1) pumpQos0(c)
    } else if (type === PUBREC) {
      if (ao === ACK_SCRATCH) { c.socket.write(Buffer.from(acks)); ao = 0 }
      ao = writeAck(acks, ao, PUBREL, buf.readUInt16BE(s))
    }
  }
}

// --- subscribers ------------------------------------------------------------------------------------
const pubCount = spec.pubCount ?? 1
let recording = false
let lat = new Float64Array(1 << 16)
let sentAt = new Float64Array(1 << 16) // each sample's send time (µs, hrtime), for --trace
let nLat = 0

function subHandler (c) {
  c.counts = new Uint32Array(pubCount)
  const acks = Buffer.allocUnsafe(ACK_SCRATCH)
  let ao = 0
  let now = 0n
  const ack = (type, id) => {
    if (ao === ACK_SCRATCH) { c.socket.write(Buffer.from(acks)); ao = 0 }
    ao = writeAck(acks, ao, type, id)
  }
  c.afterChunk = () => {
    if (ao > 0) { c.socket.write(Buffer.from(acks.subarray(0, ao))); ao = 0 }
    now = 0n
  }
  return (type, flags, buf, s, e) => {
    if (type === PUBLISH) {
      const q = (flags >> 1) & 3
      let p = s + 2 + buf.readUInt16BE(s)
      if (q > 0) {
        ack(q === 1 ? PUBACK : PUBREC, buf.readUInt16BE(p))
        p += 2
      }
      if (version === 5) p = skipProperties(buf, p)
      total++
      if (e - p >= PAYLOAD_HEADER) {
        const pi = buf.readUInt32LE(p)
        if (pi < pubCount) c.counts[pi]++
        if (recording) {
          if (now === 0n) now = nowNs() // frames of one read arrived together
          if (nLat === lat.length) {
            const l = new Float64Array(lat.length * 2); l.set(lat); lat = l
            const t = new Float64Array(lat.length); t.set(sentAt); sentAt = t
          }
          const ts = buf.readBigUInt64LE(p + 8)
          sentAt[nLat] = Number(ts) / 1e3
          lat[nLat++] = Number(now - ts) / 1e3
        }
      }
    } else if (type === PUBREL) {
      ack(PUBCOMP, buf.readUInt16BE(s))
    }
  }
}

function percentiles () {
  const a = lat.slice(0, nLat).sort()
  const at = (q) => nLat === 0 ? null : a[Math.min(nLat - 1, Math.floor(q * nLat))]
  return { n: nLat, p50: at(0.5), p99: at(0.99), p999: at(0.999), max: nLat === 0 ? null : a[nLat - 1] }
}

/**
 * Per subscriber — or per consumer group, its members' counts summed — every message of every publisher it
 * listens to (`from`) arrived exactly once? Also each group's per-member totals.
 */
function tally (sent) {
  let lost = 0
  let dup = 0
  const readers = new Map() // a client, or a group name → { from, counts }
  const groups = {}
  for (const c of clients) {
    if (c.group === undefined) { readers.set(c, c); continue }
    const g = readers.get(c.group) ?? { from: c.from, counts: new Uint32Array(pubCount) }
    for (let i = 0; i < pubCount; i++) g.counts[i] += c.counts[i]
    readers.set(c.group, g)
    ;(groups[c.group] ??= []).push(c.counts.reduce((a, b) => a + b, 0))
  }
  for (const r of readers.values()) {
    for (const pi of r.from ?? []) {
      const d = r.counts[pi] - (sent[pi] ?? 0)
      if (d < 0) lost -= d
      else dup += d
    }
  }
  return { received: total, lost, dup, groups }
}

// --- control ----------------------------------------------------------------------------------------
let closing = false

async function stopPublishers () {
  running = false
  if (timer !== null) clearInterval(timer)
  const deadline = Date.now() + 20000
  if (qos > 0) {
    while (clients.some((c) => c.inflight > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  }
  const sent = {}
  let unacked = 0
  for (const c of clients) {
    sent[c.pubIndex] = (sent[c.pubIndex] ?? 0) + (qos === 0 ? c.seq : c.acked)
    unacked += c.inflight
  }
  return { sent, unacked }
}

process.on('message', async (m) => {
  switch (m.cmd) {
    case 'start':
      running = true
      t0 = nowNs()
      if (rate > 0) timer = setInterval(tickRate, 1)
      else for (const c of clients) (qos === 0 ? pumpQos0 : pumpWindow)(c)
      reply({ type: 'start' })
      break
    case 'sample': {
      const u = process.cpuUsage()
      reply({ type: 'sample', cpu: u.user + u.system, t: Number(nowNs()) / 1e3, count: total })
      break
    }
    case 'reset':
      recording = true
      nLat = 0
      trace?.start()
      reply({ type: 'reset' })
      break
    case 'stop':
      reply({ type: 'stop', ...await stopPublishers() })
      break
    case 'report':
      // raw: every latency in arrival order (to see when the slow ones happen), with its send time
      reply({
        type: 'report',
        ...tally(m.sent),
        latency: percentiles(),
        ...(m.raw === true ? { raw: Array.from(lat.subarray(0, nLat)), rawSentAt: Array.from(sentAt.subarray(0, nLat)) } : {}),
        ...(trace !== null ? { trace: trace.stop() } : {})
      })
      break
    case 'close':
      closing = true
      for (const c of clients) c.socket.end()
      setTimeout(() => process.exit(0), 100)
      break
  }
})

try {
  const list = spec.clients
  if (role === 'pub') {
    for (const c of list) {
      // a client cycles through its topics; most publish to one
      const tmpls = (c.topics ?? [c.topic]).map((t) => publishTemplate(t, qos, payloadSize, version))
      Object.assign(c, {
        tmpls, maxFrame: Math.max(...tmpls.map((t) => t.frame.length)), ti: 0, seq: 0, pings: 0, inflight: 0, acked: 0, nextId: 0, blocked: false
      })
    }
    await openAll(list, pubHandler)
  } else if (role === 'sub') {
    await openAll(list, subHandler)
  } else {
    await openAll(list, () => () => {})
  }
  reply({ type: 'ready', connected: clients.length })
} catch (err) {
  fail(err.message)
}
