// The one message every listener (MQTT, TLS, WebSocket, HTTP) gives when it cannot bind: the address, the
// config key to change, and the cause in plain words, e.g.
// `cannot listen on 0.0.0.0:1883 (mqtt.port): address in use (another broker running? set WARDEN_MQTT_PORT or mqtt.port)`.
import { WardenError } from '@warden/common'

/** the environment variables that move a listener's port (config/load-config.ts reads them) */
const PORT_ENV: Readonly<Record<string, string>> = { mqtt: 'WARDEN_MQTT_PORT', http: 'WARDEN_HTTP_PORT' }

/** `listener` is the config section: mqtt, tls, ws, wss or http */
export function listenError (listener: string, host: string, port: number, err: unknown): WardenError {
  const code = (err as NodeJS.ErrnoException).code
  // a host that is not this machine's is fixed under .host; everything else under .port
  const key = code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' ? `${listener}.host` : `${listener}.port`
  const env = PORT_ENV[listener]
  const why = code === 'EADDRINUSE'
    ? `address in use (another broker running? set ${env !== undefined ? `${env} or ` : ''}${listener}.port)`
    : code === 'EACCES'
      ? 'permission denied (ports below 1024 need privileges)'
      : code === 'EADDRNOTAVAIL'
        ? 'address not available on this host'
        : (err as Error).message
  return new WardenError('WARDEN_ERR_LISTEN', `cannot listen on ${host}:${port} (${key}): ${why}`, { cause: err })
}
