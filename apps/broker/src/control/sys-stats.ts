// Publishes the broker's summary on $SYS/warden/stats every sysIntervalMs (read rules keep $SYS to admins and observers).
import type { ControlContext } from './context.js'
import { buildStatus } from './status.js'

export const STATS_TOPIC = '$SYS/warden/stats'

export function startSysStats (ctx: ControlContext, intervalMs: number): { close (): void } {
  const timer = setInterval(() => {
    const { listeners: _l, ...status } = buildStatus(ctx)
    const payload = Buffer.from(JSON.stringify({ ...status, ts: new Date().toISOString() }))
    ctx.broker.publish({ cmd: 'publish', topic: STATS_TOPIC, payload, qos: 0, retain: false, dup: false }, () => {})
  }, intervalMs)
  timer.unref()
  return { close: () => clearInterval(timer) }
}
