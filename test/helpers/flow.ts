// Publishers for the flow-control tests: QoS 1, one message in flight each, every PUBACK's wait measured.
import { publish, type TestClient } from './mqtt.js'

export interface Pace {
  /** ms from PUBLISH to PUBACK, per message in order */
  readonly waits: number[]
  /** ms from the first PUBLISH to the last PUBACK */
  elapsed: number
}

/** `n` QoS 1 messages of `size` bytes on `topic`, payloads `<tag>:<i>:…`, one after the other */
export async function publishPaced (c: TestClient, topic: string, tag: string, n: number, size = 256, pace: Pace = { waits: [], elapsed: 0 }): Promise<Pace> {
  const start = Date.now()
  for (let i = 0; i < n; i++) {
    const t = Date.now()
    await publish(c, topic, `${tag}:${i}:`.padEnd(size, '.'), { qos: 1 })
    pace.waits.push(Date.now() - t)
  }
  pace.elapsed = Date.now() - start
  return pace
}

export const maxOf = (xs: readonly number[]): number => xs.reduce((a, b) => Math.max(a, b), 0)

/** the `<tag>:<i>` ids of payloads that are not among `got` */
export function missing (got: readonly string[], tags: readonly string[], n: number): string[] {
  const have = new Set(got.map((p) => p.split(':', 2).join(':')))
  return tags.flatMap((t) => Array.from({ length: n }, (_, i) => `${t}:${i}`)).filter((id) => !have.has(id))
}
