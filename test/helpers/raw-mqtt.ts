// Raw MQTT over a plain socket, for what well-behaved clients cannot send: malformed, truncated, hostile.
import { connect as netConnect, type Socket } from 'node:net'
import { once } from 'node:events'
import mqttPacket, { type Packet } from 'mqtt-packet'
import { PASSWORD } from './broker.js'

export interface RawClient {
  readonly socket: Socket
  readonly packets: Packet[]
  send (bytes: Buffer | Packet): void
  /** resolves with the first packet (already received or to come) of this type; rejects if the socket closes first */
  next (cmd: string): Promise<Packet>
  /** resolves when the broker has closed the connection */
  closed (): Promise<void>
  readonly isClosed: boolean
  destroy (): void
}

export function encode (packet: Packet, protocolVersion: 4 | 5 = 4): Buffer {
  return mqttPacket.generate(packet, { protocolVersion })
}

export function connectPacket (username: string | undefined, clientId: string, extra: Partial<Packet> = {}): Packet {
  return {
    cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 30, clientId,
    ...(username !== undefined ? { username, password: Buffer.from(PASSWORD) } : {}),
    ...extra
  } as Packet
}

/** `protocolVersion` 5: packets are encoded and parsed as MQTT 5 (the CONNECT must say 5 too) */
export async function rawClient (port: number, opts: { localAddress?: string, protocolVersion?: 4 | 5 } = {}): Promise<RawClient> {
  const version = opts.protocolVersion ?? 4
  const socket = netConnect({ port, host: '127.0.0.1', ...(opts.localAddress !== undefined ? { localAddress: opts.localAddress } : {}) })
  socket.on('error', () => {})
  const parser = mqttPacket.parser({ protocolVersion: version })
  const packets: Packet[] = []
  const waiters: Array<{ cmd: string, resolve: (p: Packet) => void }> = []
  let isClosed = false
  const closedP = new Promise<void>((resolve) => socket.once('close', () => { isClosed = true; resolve() }))
  parser.on('packet', (p: Packet) => {
    packets.push(p)
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i]
      if (w !== undefined && w.cmd === p.cmd) { waiters.splice(i, 1); w.resolve(p) }
    }
  })
  parser.on('error', () => {})
  socket.on('data', (d: Buffer) => parser.parse(d))
  await Promise.race([once(socket, 'connect'), closedP])
  return {
    socket,
    packets,
    get isClosed () { return isClosed },
    send (bytes) {
      if (!socket.destroyed) socket.write(Buffer.isBuffer(bytes) ? bytes : encode(bytes, version))
    },
    next (cmd) {
      const found = packets.find((p) => p.cmd === cmd)
      if (found !== undefined) return Promise.resolve(found)
      return new Promise((resolve, reject) => {
        waiters.push({ cmd, resolve })
        closedP.then(() => reject(new Error(`closed before ${cmd}`)), () => {})
      })
    },
    closed: () => closedP,
    destroy () { socket.destroy() }
  }
}

/** resolves with the first packet `c` has received satisfying `pred` (already or to come); rejects if it closes first */
export async function packetWhere (c: RawClient, pred: (p: Packet) => boolean): Promise<Packet> {
  for (;;) {
    const found = c.packets.find(pred)
    if (found !== undefined) return found
    await Promise.race([once(c.socket, 'data'), c.closed().then(() => { throw new Error('closed') })])
  }
}

/** A raw client that has sent CONNECT and got CONNACK 0. */
export async function rawSession (port: number, username: string, clientId: string, extra: Partial<Packet> = {}): Promise<RawClient> {
  const c = await rawClient(port)
  c.send(connectPacket(username, clientId, extra))
  const ack = await c.next('connack') as Packet & { returnCode: number }
  if (ack.returnCode !== 0) throw new Error(`CONNACK ${ack.returnCode}`)
  return c
}

/** CONNECTs from a given loopback source address and returns the CONNACK's code, or null when closed without one. */
export async function connackFrom (
  port: number, localAddress: string, username: string, password: string, clientId = `c-${Math.random().toString(36).slice(2)}`
): Promise<number | null> {
  const c = await rawClient(port, { localAddress })
  try {
    c.send(connectPacket(username, clientId, { password: Buffer.from(password) } as Partial<Packet>))
    const ack = await c.next('connack') as Packet & { returnCode: number }
    return ack.returnCode
  } catch {
    return null
  } finally {
    c.destroy()
  }
}

const completing = new WeakSet<RawClient>()
/** answers every QoS 1/2 PUBLISH (PUBACK or PUBREC) and every PUBREL (PUBCOMP) `c` gets, as they come (once per client) */
export function completeAll (c: RawClient): void {
  if (completing.has(c)) return
  completing.add(c)
  const answered = new Set<Packet>()
  const answer = (): void => {
    for (const p of c.packets) {
      if (answered.has(p)) continue
      answered.add(p)
      const messageId = (p as { messageId?: number }).messageId
      const qos = (p as { qos?: number }).qos ?? 0
      if (p.cmd === 'publish' && qos > 0) c.send({ cmd: qos === 2 ? 'pubrec' : 'puback', messageId } as Packet)
      if (p.cmd === 'pubrel') c.send({ cmd: 'pubcomp', messageId } as Packet)
    }
  }
  c.socket.on('data', () => setImmediate(answer))
  answer()
}
