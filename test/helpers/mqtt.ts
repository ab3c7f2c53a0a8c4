// Real MQTT.js clients for tests: connect and wait on events, never on sleeps.
import mqtt, { type IClientOptions, type MqttClient, type IPublishPacket } from 'mqtt'
import { PASSWORD } from './broker.js'

/**
 * How long a test client waits for its CONNACK. A full `npm test` runs broker processes, Redis and pm2 beside
 * the tests on two cores: a CONNECT that waits on a takeover, a store and a password hash there has been seen to
 * take over 5 s (a connack timeout in CI) where it takes tens of milliseconds alone. A refusal a test expects comes
 * as a CONNACK code or a close, never as this timeout.
 */
export const CONNECT_TIMEOUT_MS = 15_000

export interface Received {
  topic: string
  payload: string
  qos: number
  retain: boolean
}

export interface TestClient {
  readonly client: MqttClient
  readonly messages: Received[]
  /** resolves once a message satisfying `pred` has arrived (including ones already received) */
  waitFor (pred: (m: Received) => boolean, what?: string): Promise<Received>
  /** resolves when the broker closes the connection */
  closed (): Promise<void>
  end (): Promise<void>
}

export async function connect (url: string, username: string | undefined, opts: IClientOptions = {}): Promise<TestClient> {
  const client = mqtt.connect(url, {
    username,
    password: username === undefined ? undefined : PASSWORD,
    reconnectPeriod: 0,
    connectTimeout: CONNECT_TIMEOUT_MS,
    ...opts
  })
  return await wrap(client)
}

/** Connects and resolves with the CONNACK return code (0 on success); the client is ended either way. */
export async function connackCode (url: string, opts: IClientOptions): Promise<number> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: CONNECT_TIMEOUT_MS, ...opts })
  try {
    return await new Promise<number>((resolve, reject) => {
      client.once('connect', (ack) => resolve(ack.returnCode ?? 0))
      client.once('error', (err) => {
        const code = (err as Error & { code?: number }).code
        if (typeof code === 'number') resolve(code); else reject(err)
      })
      client.once('close', () => reject(new Error('closed without CONNACK')))
    })
  } finally {
    client.end(true)
  }
}

function wrap (client: MqttClient): Promise<TestClient> {
  const messages: Received[] = []
  const waiters: Array<{ pred: (m: Received) => boolean, resolve: (m: Received) => void }> = []
  client.on('message', (topic, payload, packet: IPublishPacket) => {
    const m = { topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain }
    messages.push(m)
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i]
      if (w !== undefined && w.pred(m)) { waiters.splice(i, 1); w.resolve(m) }
    }
  })
  let isClosed = false
  const closedP = new Promise<void>((resolve) => client.once('close', () => { isClosed = true; resolve() }))
  return new Promise((resolve, reject) => {
    client.once('connect', () => {
      client.removeListener('error', reject)
      resolve({
        client,
        messages,
        waitFor (pred, what = 'message') {
          const found = messages.find(pred)
          if (found !== undefined) return Promise.resolve(found)
          return new Promise((res, rej) => {
            waiters.push({ pred, resolve: res })
            closedP.then(() => rej(new Error(`connection closed while waiting for ${what}`)), () => {})
          })
        },
        closed: () => closedP,
        end: () => isClosed ? Promise.resolve() : new Promise<void>((res) => client.end(false, {}, () => res()))
      })
    })
    client.once('error', reject)
  })
}

export function publish (c: TestClient, topic: string, payload: string, opts: { qos?: 0 | 1 | 2, retain?: boolean } = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    c.client.publish(topic, payload, { qos: opts.qos ?? 0, retain: opts.retain ?? false }, (err) => err ? reject(err) : resolve())
  })
}

/** Subscribes and resolves with the granted QoS list (128 = refused). */
export function subscribe (c: TestClient, filters: string | string[], qos: 0 | 1 | 2 = 0): Promise<number[]> {
  return new Promise((resolve, reject) => {
    // MQTT.js reports the requested QoS in `granted`; the SUBACK's return codes are in the packet
    c.client.subscribe(filters, { qos }, (err, _granted, packet) => {
      const codes = (packet as { granted?: number[] } | undefined)?.granted
      if (codes === undefined) { reject(err ?? new Error('no SUBACK')); return }
      resolve(codes)
    })
  })
}
