// Lists the incoming QoS 2 packets the level store holds, for recovery at start-up. Its keys are
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
