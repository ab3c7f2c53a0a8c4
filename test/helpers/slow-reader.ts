// A subscriber that reads its socket at a bounded rate, as a slow but honest device does: it takes at most
// `bytesPerSec` from the socket, acknowledges each QoS 1 message as it reads it, and can stop reading.
import { connect as netConnect, type Socket } from 'node:net'
import { once } from 'node:events'
import mqttPacket, { type IPublishPacket, type Packet } from 'mqtt-packet'
import { connectPacket, encode } from './raw-mqtt.js'

const TICK_MS = 10

export interface SlowReader {
  readonly socket: Socket
  /** payloads of the PUBLISH packets read, in order */
  readonly payloads: string[]
  readonly isClosed: boolean
  /** resolves once `n` messages have been read; rejects if the connection closes first */
  received (n: number): Promise<void>
  /** stops reading (and acknowledging) for good */
  freeze (): void
  closed (): Promise<void>
  destroy (): void
}

export async function slowReader (
  port: number, username: string, clientId: string, sub: { filter: string, qos: 0 | 1 }, bytesPerSec: number, clean = false
): Promise<SlowReader> {
  const socket = netConnect({ port, host: '127.0.0.1' })
  socket.on('error', () => {})
  await once(socket, 'connect')
  const parser = mqttPacket.parser({ protocolVersion: 4 })
  const payloads: string[] = []
  const waiters: Array<{ n: number, resolve: () => void, reject: (e: Error) => void }> = []
  let isClosed = false
  let frozen = false
  let suback: (() => void) | undefined
  const closedP = new Promise<void>((resolve) => socket.once('close', () => {
    isClosed = true
    clearInterval(tick)
    for (const w of waiters.splice(0)) w.reject(new Error(`connection closed after ${payloads.length} messages`))
    resolve()
  }))
  parser.on('packet', (p: Packet) => {
    if (p.cmd === 'suback') suback?.()
    if (p.cmd !== 'publish') return
    const pub = p as IPublishPacket
    payloads.push(pub.payload.toString())
    if (pub.qos === 1) socket.write(encode({ cmd: 'puback', messageId: pub.messageId } as Packet))
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i]
      if (w !== undefined && payloads.length >= w.n) { waiters.splice(i, 1); w.resolve() }
    }
  })
  // paused mode: the stream buffers what the kernel has (up to its high-water mark); each tick takes a share
  socket.on('readable', () => {})
  let budget = 0
  const tick = setInterval(() => {
    if (frozen) return
    budget = Math.min(budget + bytesPerSec * TICK_MS / 1000, bytesPerSec)
    const n = Math.min(Math.floor(budget), socket.readableLength)
    if (n <= 0) { socket.read(0); return }
    const chunk = socket.read(n) as Buffer | null
    if (chunk !== null) { budget -= chunk.length; parser.parse(chunk) }
  }, TICK_MS)
  socket.write(encode(connectPacket(username, clientId, { clean })))
  await new Promise<void>((resolve, reject) => {
    suback = resolve
    closedP.then(() => reject(new Error('closed before SUBACK')), () => {})
    socket.write(encode({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: sub.filter, qos: sub.qos }] } as Packet))
  })
  return {
    socket,
    payloads,
    get isClosed () { return isClosed },
    received (n) {
      if (payloads.length >= n) return Promise.resolve()
      if (isClosed) return Promise.reject(new Error(`connection closed after ${payloads.length} messages`))
      return new Promise((resolve, reject) => waiters.push({ n, resolve, reject }))
    },
    freeze () { frozen = true },
    closed: () => closedP,
    destroy () { clearInterval(tick); socket.destroy() }
  }
}
