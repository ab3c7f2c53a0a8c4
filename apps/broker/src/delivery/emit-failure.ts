// A listener on the message bus that could not take its part of a message marks the packet it was handed: a
// consumer group whose queue write failed (or whose replicas did not confirm it, redis.waitForReplicas). The
// bus drops a listener's error (mqemitter's listeners only say they are done), so the publish gate reads the
// mark as the emit completes and fails aedes's publish with it: no PUBACK or PUBREC, and the client, closed,
// sends the message again — as when the broker's own store write fails.
const FAILED = Symbol('warden.emitFailed')
interface Marked { [FAILED]?: Error | undefined }

/**
 * The groups whose copy of a message was not kept. Its ordinary subscribers may have it already: a QoS 2
 * message sent again is then given to these groups alone (qos2-group-copy.ts).
 */
export class GroupCopyFailed extends Error {
  constructor (readonly keys: Set<string>, readonly messageExpiry: number | undefined, cause: unknown) {
    super(`consumer group copy not kept (${[...keys].join(', ')})`, { cause })
  }
}

/** the part of this QoS 1/2 message a listener had to keep is not kept: its publish must fail */
export function failEmit (packet: object, err: Error): void {
  const p = packet as Marked
  p[FAILED] ??= err
}

/** as failEmit, naming the groups (each filter's listener adds its own) */
export function failGroupCopy (packet: object, keys: readonly string[], messageExpiry: number | undefined, cause: unknown): void {
  const p = packet as Marked
  const had = p[FAILED]
  if (had instanceof GroupCopyFailed) for (const k of keys) had.keys.add(k)
  else failEmit(packet, new GroupCopyFailed(new Set(keys), messageExpiry, cause))
}

/** the failure a listener marked on this packet, taken off it */
export function takeEmitFailure (packet: object): Error | undefined {
  const p = packet as Marked
  const err = p[FAILED]
  if (err !== undefined) p[FAILED] = undefined
  return err
}
