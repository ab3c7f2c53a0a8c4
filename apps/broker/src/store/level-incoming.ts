// Lists the incoming QoS 2 packets aedes-persistence-level holds, for recovery at start-up and sessionPresent. Its keys are
// `incoming:<URI-encoded client id>:<zero-padded message id>`.
import type { Level } from 'level'

export interface IncomingRef {
  readonly clientId: string
  readonly messageId: number
}

export async function * listLevelIncoming (db: Level<string, unknown>): AsyncIterable<IncomingRef> {
  for await (const key of db.keys({ gte: 'incoming:', lt: 'incoming;' })) {
    const rest = key.slice('incoming:'.length)
    const sep = rest.lastIndexOf(':')
    const messageId = Number(rest.slice(sep + 1))
    if (sep > 0 && Number.isInteger(messageId)) yield { clientId: decodeURIComponent(rest.slice(0, sep)), messageId }
  }
}

/** whether a client has incoming QoS 2 packets stored (awaiting PUBREL) */
export async function hasLevelIncoming (db: Level<string, unknown>, clientId: string): Promise<boolean> {
  const prefix = `incoming:${encodeURIComponent(clientId)}:`
  for await (const _ of db.keys({ gte: prefix, lt: prefix.slice(0, -1) + ';', limit: 1 })) return true
  return false
}
