// A broker process (dist/main.js) on ephemeral ports, with the addresses its log announces, and admin API calls to it.
import { basic } from './http.js'
import { startApp, type AppProcess } from './process.js'

export interface BrokerProcess {
  readonly app: AppProcess
  readonly port: number
  /** mqtt://127.0.0.1:<port> */
  readonly url: string
  /** http://<host>:<port> of its control plane */
  readonly http: string
}

/** starts it with WARDEN_* `env` (ports default to 0) and resolves once it said ready and listens */
export async function startBrokerProcess (env: Record<string, string>): Promise<BrokerProcess> {
  const app = startApp('broker', { WARDEN_MQTT_PORT: '0', WARDEN_HTTP_PORT: '0', WARDEN_LOG_LEVEL: 'info', ...env })
  try {
    await app.ready()
    const mqtt = await app.waitForLog((l) => l.msg === 'broker listening')
    const http = await app.waitForLog((l) => l.msg === 'control plane listening')
    const port = Number(String(mqtt.mqtt).split(':').pop())
    return { app, port, url: `mqtt://127.0.0.1:${port}`, http: `http://${String(http.http)}` }
  } catch (err) {
    // a start that failed leaves no process behind
    await app.stop('SIGKILL')
    throw err
  }
}

/** an API call as the test config's admin; resolves with the status */
export async function adminCall (http: string, method: string, path: string, body?: unknown): Promise<number> {
  const res = await fetch(http + path, {
    method,
    headers: { authorization: basic('admin'), 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {})
  })
  await res.text()
  return res.status
}
