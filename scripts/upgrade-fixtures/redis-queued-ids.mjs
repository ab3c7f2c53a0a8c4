// A rolling reload on `persistence: redis` with QoS 2 messages queued with their packet id (this checkout's
// store/redis-queues.ts, given the id as the message is queued: aedes/queued-ids.ts) beside a worker of an earlier
// build that does not do so (e9bb324, or any build with apps/broker/dist/store/redis-queues.js). Each store reads,
// sends, releases and acknowledges what the other queued, on one private Redis: the session of a subscriber
// whose connection closed on one worker before it was sent the message resumes on the other. Needs `npm run build`
// here and in the earlier checkout:
//   git worktree add --detach ../wt-prev e9bb324 && (cd ../wt-prev && npm install && npm run build)
//   node scripts/upgrade-fixtures/redis-queued-ids.mjs ../wt-prev
// Prints one line per check and exits 1 if any failed. The redis-server it starts is stopped by its PID.
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { freePort } from './old-build.mjs'

const ROOT = resolve(import.meta.dirname, '../..')
const require = createRequire(resolve(ROOT, 'apps/broker/package.json'))
const { Redis } = require('ioredis')
const mqemitter = require('mqemitter')
const storeOf = async (checkout) => (await import(pathToFileURL(resolve(checkout, 'apps/broker/dist/store/redis-queues.js')).href)).RedisQueueStore
if (process.argv[2] === undefined) throw new Error('usage: node scripts/upgrade-fixtures/redis-queued-ids.mjs <built earlier checkout>')
const Old = await storeOf(process.argv[2])
const New = await storeOf(ROOT)

let failed = 0
const check = (name, ok, detail = '') => {
  if (!ok) failed++
  process.stdout.write(`${ok ? 'PASS' : 'FAIL'} ${name}${detail !== '' ? `: ${detail}` : ''}\n`)
}

const port = await freePort()
const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
const url = `redis://127.0.0.1:${port}`
// until redis-server listens: refused connections are retried, not reported
const db = new Redis(url, { retryStrategy: (n) => n < 50 ? 50 : null })
db.on('error', () => {})
const opened = []
try {
  await db.ping()
  const open = async (S) => {
    const s = new S({ conn: new Redis(url) })
    const mq = mqemitter()
    await s.setup({ id: 'b-1', mq, counter: 0, publish: mq.emit.bind(mq), subscribe: mq.on.bind(mq), unsubscribe: mq.removeListener.bind(mq) })
    opened.push(s)
    return s
  }
  const message = (n) => ({
    cmd: 'publish', topic: 't/q', payload: Buffer.from(`m-${n}`), qos: 2, retain: false, dup: false, brokerId: 'b-1', brokerCounter: n
  })
  const subs = ['sub-a', 'sub-b'].map((clientId) => ({ clientId, topic: 't/#', qos: 2 }))
  const connection = (id) => ({ id, conn: {} })
  const read = async (store, session) => { const out = []; for await (const p of store.outgoingStream(session)) out.push(p); return out }
  /** as a resumed session: each message read sent under its id (or `fresh`), released, completed */
  const complete = async (store, clientId, fresh) => {
    const c = connection(clientId)
    const got = await read(store, c)
    for (const p of got) {
      const messageId = p.messageId ?? fresh
      await store.outgoingUpdate(c, { ...p, messageId })
      await store.outgoingUpdate(c, { cmd: 'pubrel', messageId })
      await store.outgoingClearMessageId(c, { messageId })
    }
    await store.settled()
    return got.map((p) => `${String(p.payload)}@${p.messageId ?? 'new'}`)
  }
  const now = await open(New)
  const before = await open(Old)

  // queued by this build, sub-a given id 7 on a connection that closed before sending it; read on the earlier one
  await db.flushall()
  now.giveIdsAtQueue((clientId) => clientId === 'sub-a' ? { id: 7, client: connection('sub-a'), drop () {} } : undefined)
  await now.outgoingEnqueueCombi(subs, message(1))
  check('the earlier build sends the message queued with its id under that id', String(await complete(before, 'sub-a', 100)) === 'm-1@7',
    String(await db.lrange('outgoing:sub-a', 0, -1)))
  check('and the other subscriber\'s copy (queued without) under a new one', String(await complete(before, 'sub-b', 100)) === 'm-1@new')
  check('nothing of it is left once both completed it', (await db.keys('*')).length === 0, String(await db.keys('*')))

  // queued by the earlier build, sent by it (its id written apart), read on this one
  await db.flushall()
  await before.outgoingEnqueueCombi(subs, message(2))
  await before.outgoingUpdate(connection('sub-a'), { ...message(2), messageId: 9 })
  check('this build sends a message the earlier one sent under its id', String(await complete(now, 'sub-a', 100)) === 'm-2@9')
  check('and the copy it never sent under a new one', String(await complete(now, 'sub-b', 100)) === 'm-2@new')
  check('nothing of it is left', (await db.keys('*')).length === 0, String(await db.keys('*')))
} finally {
  for (const s of opened) await s.destroy().catch(() => {})
  db.disconnect()
  server.kill('SIGTERM')
}
process.exit(failed === 0 ? 0 : 1)
