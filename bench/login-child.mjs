// The hostile side of the login-storm workload, in a process of its own: from each of `addresses`, `perSecond`
// new connections a second, each sending one CONNECT (half with the right password, half with a wrong
// one, over a few usernames) and giving up after `giveUpMs` without CONNACK — as a script that retries
// would. Reports what it got.
import net from 'node:net'
import { connectFrame } from './lib/wire.mjs'

const spec = await new Promise((resolve) => process.once('message', (m) => resolve(m.spec)))
const { port, addresses, perSecond, usernames, password, giveUpMs = 2000 } = spec
const counts = { sent: 0, accepted: 0, refused: 0, gaveUp: 0, closed: 0 }
const open = new Set()
let timer = null
let n = 0

function attempt (localAddress) {
  const i = n++
  const right = i % 2 === 0
  const frame = connectFrame({ clientId: `storm-${i}`, username: usernames[(i >> 1) % usernames.length], password: right ? password : `wrong-${i}` })
  const socket = net.connect({ port, host: '127.0.0.1', localAddress, noDelay: true })
  open.add(socket)
  counts.sent++
  let done = false
  const finish = (what) => { if (done) return; done = true; counts[what]++; clearTimeout(t); socket.destroy() }
  const t = setTimeout(() => finish('gaveUp'), giveUpMs)
  socket.on('connect', () => socket.write(frame))
  socket.on('data', (d) => finish(d[0] === 0x20 && d[3] === 0 ? 'accepted' : 'refused'))
  socket.on('error', () => {})
  socket.on('close', () => { finish('closed'); open.delete(socket) })
}

function start () {
  // one tick every 1000 / perSecond ms: a CONNECT from every address
  timer = setInterval(() => { for (const a of addresses) attempt(a) }, 1000 / perSecond)
}

process.on('message', (m) => {
  if (m.cmd === 'start') { start(); process.send({ type: 'start' }) }
  if (m.cmd === 'stats') process.send({ type: 'stats', counts })
  if (m.cmd === 'close') {
    clearInterval(timer)
    for (const s of open) s.destroy()
    process.send({ type: 'close', counts })
    setTimeout(() => process.exit(0), 20)
  }
})
process.send({ type: 'ready' })
