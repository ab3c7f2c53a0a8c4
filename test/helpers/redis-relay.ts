// A TCP relay in front of a test's Redis, for one broker process: its connections to Redis can be cut while the
// other brokers keep theirs, and what it publishes can be held back, so that a test orders what each broker
// sees of Redis.
import { createHash } from 'node:crypto'
import { createServer, connect as tcpConnect, type Socket } from 'node:net'
import { Redis } from 'ioredis'
import { BUS_SCRIPT } from '../../apps/broker/src/store/redis-bus-batch.js'

export interface RedisRelay {
  /** the URL to give the broker in place of Redis's */
  readonly url: string
  /**
   * drops every connection through the relay and refuses new ones until restore(); resolves once Redis has
   * let them go (no longer lists them), so that nothing published after it reaches their subscriptions
   */
  cut (): Promise<void>
  restore (): void
  /**
   * from now on, what a connection sends from its first PUBLISH carrying `marker` (a message's payload) on waits
   * here, in order, until release(); the bus's PUBLISHes travel in script calls (redis-bus-batch.ts): one of
   * those carrying `marker` counts as a PUBLISH
   */
  holdPublishes (marker: string): void
  /** the same, from a connection's first chunk of commands whose RESP text `matches` */
  holdWhere (matches: (text: string) => boolean): void
  release (): void
  /** bytes Redis has sent the broker through the relay so far */
  readonly bytesFromRedis: number
  close (): void
}

interface Pair { readonly client: Socket, readonly upstream: Socket, held: Buffer[] | null }

/** a PUBLISH command as ioredis writes it (RESP, the name as given: lower case) */
const PUBLISH = /\r\npublish\r\n/i
/** the bus's script call (EVALSHA, or EVAL once Redis lost its scripts) */
const BUS_SHA = createHash('sha1').update(BUS_SCRIPT).digest('hex')
const isPublish = (text: string): boolean => PUBLISH.test(text) || text.includes(BUS_SHA) || text.includes(BUS_SCRIPT)

export async function startRedisRelay (redisPort: number): Promise<RedisRelay> {
  const pairs = new Set<Pair>()
  let refusing = false
  let holding: ((text: string) => boolean) | null = null
  let bytesFromRedis = 0
  const server = createServer((client) => {
    if (refusing) { client.destroy(); return }
    const upstream = tcpConnect(redisPort, '127.0.0.1')
    const pair: Pair = { client, upstream, held: null }
    pairs.add(pair)
    const end = (): void => { pairs.delete(pair); client.destroy(); upstream.destroy() }
    client.on('error', end).on('close', end)
    upstream.on('error', end).on('close', end)
    upstream.on('data', (chunk: Buffer) => { bytesFromRedis += chunk.length })
    upstream.pipe(client)
    client.on('data', (chunk: Buffer) => {
      if (pair.held === null && holding !== null) {
        if (holding(chunk.toString('latin1'))) pair.held = []
      }
      if (pair.held !== null) pair.held.push(chunk)
      else upstream.write(chunk)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  const admin = new Redis({ port: redisPort, host: '127.0.0.1', lazyConnect: true })
  admin.on('error', () => {})
  return {
    url: `redis://127.0.0.1:${port}`,
    get bytesFromRedis () { return bytesFromRedis },
    async cut () {
      refusing = true
      const gone = [...pairs].map((p) => p.upstream.localPort).filter((p): p is number => p !== undefined)
      for (const p of [...pairs]) { p.client.destroy(); p.upstream.destroy() }
      for (;;) {
        const list = await admin.call('CLIENT', 'LIST') as string
        if (!gone.some((p) => list.includes(`addr=127.0.0.1:${p} `))) return
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    },
    restore () { refusing = false },
    holdPublishes (marker) { holding = (text) => isPublish(text) && text.includes(marker) },
    holdWhere (matches) { holding = matches },
    release () {
      holding = null
      for (const p of pairs) {
        const held = p.held
        p.held = null
        for (const chunk of held ?? []) p.upstream.write(chunk)
      }
    },
    close () {
      for (const p of [...pairs]) { p.client.destroy(); p.upstream.destroy() }
      server.close()
      admin.disconnect()
    }
  }
}
