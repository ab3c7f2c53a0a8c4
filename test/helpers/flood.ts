// A publisher that pipelines, as a gateway forwarding a burst does (and as bench/gen-child.mjs does): over a raw
// socket, QoS 0 messages in batches each followed by a PINGREQ, a few unanswered at most (the broker answers
// in order, so it paces the publisher to what it takes); QoS 1 with a window of unacknowledged PUBLISHes.
// Payloads are `<tag>:<i>:…` (helpers/flow.ts `missing`).
import { connect as netConnect, type Socket } from 'node:net'
import { once } from 'node:events'
import mqttPacket, { type Packet } from 'mqtt-packet'
import { connectPacket, encode } from './raw-mqtt.js'

const PINGREQ = Buffer.from([0xc0, 0x00])

export interface FloodOptions {
  qos: 0 | 1
  /** messages in all */
  n: number
  /** payload bytes of each */
  size: number
  /** QoS 0: messages per batch (one write), each batch followed by a PINGREQ */
  batch?: number
  /** QoS 0: PINGREQs unanswered at most; QoS 1: PUBLISHes unacknowledged at most */
  window?: number
}

export interface Flood {
  readonly socket: Socket
  /** resolves once all `n` are written and answered (the last PINGRESP, or every PUBACK); rejects if the
   * connection closes first */
  readonly done: Promise<void>
  destroy (): void
}

export async function flood (port: number, username: string, clientId: string, topic: string, tag: string, o: FloodOptions): Promise<Flood> {
  const batch = o.batch ?? 32
  const window = o.window ?? (o.qos === 0 ? 4 : 64)
  const socket = netConnect({ port, host: '127.0.0.1', noDelay: true })
  socket.on('error', () => {})
  await once(socket, 'connect')
  const parser = mqttPacket.parser({ protocolVersion: 4 })
  const frame = (i: number): Buffer => encode({
    cmd: 'publish', topic, qos: o.qos, retain: false, dup: false,
    payload: Buffer.from(`${tag}:${i}:`.padEnd(o.size, '.')), ...(o.qos === 1 ? { messageId: (i % 65535) + 1 } : {})
  } as Packet)
  let next = 0
  let unanswered = 0
  let connected = false
  let settle: { resolve: () => void, reject: (e: Error) => void } | undefined
  const done = new Promise<void>((resolve, reject) => { settle = { resolve, reject } })
  done.catch(() => {})
  const pump = (): void => {
    while (next < o.n && unanswered < window) {
      if (o.qos === 1) { socket.write(frame(next++)); unanswered++; continue }
      const frames: Buffer[] = []
      for (const end = Math.min(o.n, next + batch); next < end;) frames.push(frame(next++))
      socket.write(Buffer.concat([...frames, PINGREQ]))
      unanswered++
    }
    if (next === o.n && unanswered === 0) settle?.resolve()
  }
  parser.on('packet', (p: Packet) => {
    if (p.cmd === 'connack') {
      if (p.returnCode !== 0) { settle?.reject(new Error(`${clientId}: CONNACK ${p.returnCode}`)); return }
      connected = true
      pump()
    } else if ((p.cmd === 'pingresp' && o.qos === 0) || (p.cmd === 'puback' && o.qos === 1)) {
      unanswered--
      pump()
    }
  })
  socket.on('data', (d: Buffer) => parser.parse(d))
  socket.once('close', () => settle?.reject(new Error(`${clientId}: closed ${connected ? `after ${next} of ${o.n} written` : 'before CONNACK'}`)))
  socket.write(encode(connectPacket(username, clientId)))
  return { socket, done, destroy: () => socket.destroy() }
}
