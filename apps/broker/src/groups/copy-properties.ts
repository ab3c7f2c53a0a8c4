// The MQTT 5 properties a group's copy of a message carries to its member (user properties, content type,
// response topic, correlation data, …), and their JSON form on the cluster link and in a Redis group queue.

/** a PUBLISH's properties as mqtt-packet gives them */
export type CopyProperties = Readonly<Record<string, unknown>>

/** per connection or per subscription, not the message's: never carried to another receiver */
const NOT_CARRIED = new Set(['topicAlias', 'subscriptionIdentifier'])

/** the properties of a published message that its receivers get; undefined when none (MQTT 3.1.1) */
export function carriedProperties (props: CopyProperties | undefined | null): CopyProperties | undefined {
  if (props === undefined || props === null) return undefined
  const out: Record<string, unknown> = {}
  let any = false
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || NOT_CARRIED.has(k)) continue
    out[k] = v
    any = true
  }
  return any ? out : undefined
}

/** JSON-safe: correlation data is binary */
export function encodeProperties (props: CopyProperties | undefined): Record<string, unknown> | undefined {
  if (props === undefined) return undefined
  const { correlationData, ...rest } = props
  return correlationData === undefined ? rest : { ...rest, correlationData: Buffer.from(correlationData as Uint8Array).toString('base64') }
}

export function decodeProperties (e: Record<string, unknown> | undefined): CopyProperties | undefined {
  if (e === undefined || e === null) return undefined
  const { correlationData, ...rest } = e
  return typeof correlationData === 'string' ? { ...rest, correlationData: Buffer.from(correlationData, 'base64') } : rest
}
