// The workers' live frames for the dashboard's event streams (http/events.ts): each worker publishes one frame
// per sample on a Redis channel of its own kind, and a worker with an open stream listens to it.
//
// Plain Redis pub/sub on the cluster view's two connections, not the aedes bus: the bus is where client
// messages travel (every MQTT topic is a Redis channel of that name), so a frame there would be one more
// message through mqemitter-redis and aedes, and would need a seal to be believed (groups/link-seal.ts). The
// channel's name carries U+0000, which no MQTT topic may contain (MQTT-1.5.3-2): no client's PUBLISH reaches it.
// Only what holds Redis's credentials publishes there, i.e. the cluster's own processes. (A client's `#` makes
// the bus listen to every channel, this one too; what is not a bus message is dropped there: store/redis-bus.ts.)
//
// A frame costs its worker one Redis command per sample only while another worker's stream listens: the
// worker asks Redis first (PUBSUB NUMSUB, which counts the listening connections), so an unwatched cluster
// builds and sends no frames.
import type { Redis } from 'ioredis'
import type { Logger } from '@warden/common'

const FEED_CHANNEL = 'warden:cluster\u0000feed'
/** a frame larger than this is not read (a worker's frame holds one sample, its moving topics and ≤ 50 refusals) */
const MAX_FRAME_BYTES = 8 * 1024 * 1024

export interface Frame { readonly worker: string }

export interface ClusterFeed {
  /** another worker's stream listens now */
  watched (): Promise<boolean>
  publish (frame: Frame): Promise<void>
  /** the other workers' frames; this worker listens to the channel while a listener is registered */
  listen (fn: (frame: Frame) => void): Promise<() => void>
  close (): void
}

export function createClusterFeed (conn: Redis, sub: Redis, self: string, logger: Logger): ClusterFeed {
  const listeners = new Set<(frame: Frame) => void>()
  /** this worker's subscription, counted by NUMSUB among the listeners */
  let subscribed = false
  let change: Promise<unknown> = Promise.resolve()
  // subscribe and unsubscribe in the order asked (a stream that closes as another opens)
  const follow = (): Promise<unknown> => (change = change.then(async () => {
    const want = listeners.size > 0
    if (want === subscribed) return
    if (want) await sub.subscribe(FEED_CHANNEL)
    else await sub.unsubscribe(FEED_CHANNEL)
    subscribed = want
  }).catch((err: unknown) => logger.warn({ err }, 'cannot follow the other workers\' live frames')))

  sub.on('messageBuffer', (channel: Buffer, message: Buffer) => {
    if (listeners.size === 0 || message.length > MAX_FRAME_BYTES || channel.toString() !== FEED_CHANNEL) return
    let frame: unknown
    try { frame = JSON.parse(message.toString()) } catch { return }
    if (frame === null || typeof frame !== 'object' || typeof (frame as Frame).worker !== 'string') return
    // this worker's own frame comes back when it listens too: its streams have it already
    if ((frame as Frame).worker === self) return
    for (const l of listeners) l(frame as Frame)
  })

  return {
    async watched () {
      const r = await conn.pubsub('NUMSUB', FEED_CHANNEL) as unknown[]
      return Number(r[1]) - (subscribed ? 1 : 0) > 0
    },
    async publish (frame) {
      await conn.publish(FEED_CHANNEL, JSON.stringify(frame))
    },
    async listen (fn) {
      listeners.add(fn)
      await follow()
      return () => {
        if (listeners.delete(fn)) void follow()
      }
    },
    close () { listeners.clear() }
  }
}
