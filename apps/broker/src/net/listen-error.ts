// The one message every listener (MQTT, TLS, WebSocket, HTTP) gives when it cannot bind: the address, the
// config key to change, and the cause in plain words, e.g.
// `cannot listen on 0.0.0.0:1883 (mqtt.port): address in use`.
import { WardenError } from '@warden/common'

/** `listener` is the config section: mqtt, tls, ws, wss or http */
export function listenError (listener: string, host: string, port: number, err: unknown): WardenError {
  const code = (err as NodeJS.ErrnoException).code
  // a host that is not this machine's is fixed under .host; everything else under .port
  const key = code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' ? `${listener}.host` : `${listener}.port`
  const why = code === 'EADDRINUSE'
    ? 'address in use'
    : code === 'EACCES'
      ? 'permission denied (ports below 1024 need privileges)'
      : code === 'EADDRNOTAVAIL'
        ? 'address not available on this host'
        : (err as Error).message
  return new WardenError('WARDEN_ERR_LISTEN', `cannot listen on ${host}:${port} (${key}): ${why}`, { cause: err })
}
