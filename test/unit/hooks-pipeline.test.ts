// The hook pipeline: stages run in their listed order, each can answer or pass on, past the last the hook
// accepts; and the one refusal path answers every refused publish the same way.
import type { AedesPublishPacket, Client, PublishPacket, Subscription } from 'aedes'
import { describe, expect, it } from 'vitest'
import { composeHooks, type HookStage } from '../../apps/broker/src/hooks/pipeline.js'
import { createRefusal } from '../../apps/broker/src/hooks/refusal.js'
import { createAudit, type AuditEvent } from '../../apps/broker/src/audit/audit.js'
import { createPublishGate } from '../../apps/broker/src/delivery/publish-gate.js'
import { VOID_TOPIC } from '../../apps/broker/src/policy/internal-topics.js'
import { createLogger } from '../../packages/common/src/index.js'

// a plain object in the shape the hooks read: these are functions of (client, packet), not of a broker
const client = { id: 'dev-1', conn: { remoteAddress: '::ffff:127.0.0.2' } } as unknown as Client
const publish = (topic = 'a/b', qos: 0 | 1 | 2 = 1): PublishPacket =>
  ({ cmd: 'publish', topic, payload: Buffer.from('x'), qos, retain: true, dup: false, messageId: 1 }) as PublishPacket

const tracing = (name: string, log: string[], answer?: 'refuse'): HookStage => ({
  name,
  authorizePublish (c, packet, cb, next) {
    log.push(`${name} in`)
    if (answer === 'refuse') { cb(new Error(`refused by ${name}`)); return }
    next(c, packet, (err) => { log.push(`${name} out`); cb(err) })
  },
  authorizeForward (c, packet, next) {
    log.push(name)
    return next(c, packet)
  }
})

describe('composeHooks', () => {
  it('runs the stages in their listed order and hands answers back outward', async () => {
    const log: string[] = []
    const hooks = composeHooks([tracing('first', log), tracing('second', log), tracing('third', log)])
    const err = await new Promise((resolve) => hooks.authorizePublish(client, publish(), resolve))
    expect(err).toBeNull()
    expect(log).toEqual(['first in', 'second in', 'third in', 'third out', 'second out', 'first out'])
  })

  it('a stage that answers stops the stages after it', async () => {
    const log: string[] = []
    const hooks = composeHooks([tracing('first', log), tracing('second', log, 'refuse'), tracing('third', log)])
    const err = await new Promise<Error | null | undefined>((resolve) => hooks.authorizePublish(client, publish(), resolve))
    expect(err?.message).toBe('refused by second')
    expect(log).toEqual(['first in', 'second in', 'first out'])
  })

  it('with no stage for a hook, accepts: CONNECT, login, subscription and message pass unchanged', async () => {
    const hooks = composeHooks([{ name: 'empty' }])
    const sub = { topic: 't', qos: 1 } as Subscription
    await expect(new Promise((resolve) => hooks.preConnect(client, {} as never, (e, ok) => resolve([e, ok])))).resolves.toEqual([null, true])
    await expect(new Promise((resolve) => hooks.authenticate(client, 'u', undefined, (e, ok) => resolve([e, ok])))).resolves.toEqual([null, true])
    await expect(new Promise((resolve) => hooks.authorizeSubscribe(client, sub, (e, s) => resolve([e, s])))).resolves.toEqual([null, sub])
    const packet = publish() as AedesPublishPacket
    expect(hooks.authorizeForward(client, packet)).toBe(packet)
  })

  it('a synchronous hook (authorizeForward) can drop or replace the message on its way', () => {
    const log: string[] = []
    const drop: HookStage = { name: 'drop', authorizeForward: (_c, p) => p.topic === 'secret' ? null : { ...p, qos: 0 } as AedesPublishPacket }
    const hooks = composeHooks([tracing('first', log), drop, tracing('never', log)])
    expect(hooks.authorizeForward(client, publish('secret') as AedesPublishPacket)).toBeNull()
    expect(hooks.authorizeForward(client, publish('open') as AedesPublishPacket)?.qos).toBe(0)
    expect(log).toEqual(['first', 'first'])
  })
})

describe('refusal', () => {
  const setup = (deniedPublish: 'drop' | 'disconnect'): { refusal: ReturnType<typeof createRefusal>, events: AuditEvent[] } => {
    const audit = createAudit({ logger: createLogger({ name: 'test', level: 'silent' }), brokerId: 'b', emit: () => {} })
    const events: AuditEvent[] = []
    audit.onRecord((e) => events.push(e))
    return { refusal: createRefusal({ audit, deniedPublish, gate: createPublishGate(), usernameOf: () => 'alice' }), events }
  }

  it('drop: audits the refusal, completes the QoS flow and empties the message into the void', async () => {
    const { refusal, events } = setup('drop')
    const packet = publish('plant/1/cmd')
    const err = await new Promise((resolve) => refusal.publish(client, packet, { reason: 'not-owner', filter: 'plant/#' }, resolve))
    expect(err).toBeNull()
    expect(packet).toMatchObject({ topic: VOID_TOPIC, retain: false, payload: Buffer.alloc(0) })
    expect(events).toEqual([expect.objectContaining({
      kind: 'publish', reason: 'not-owner', username: 'alice', clientId: 'dev-1', address: '127.0.0.2', topic: 'plant/1/cmd', qos: 1, filter: 'plant/#'
    })])
  })

  it('disconnect: fails the hook (aedes closes the connection), the packet untouched', async () => {
    const { refusal, events } = setup('disconnect')
    const packet = publish('plant/1/cmd')
    const err = await new Promise<Error | null | undefined>((resolve) => refusal.publish(client, packet, { reason: 'not-owner' }, resolve))
    expect(err?.message).toBe('publish to plant/1/cmd denied: not-owner')
    expect(packet.topic).toBe('plant/1/cmd')
    expect(events).toHaveLength(1)
  })

  it('a will is refused by failing the hook even in drop mode, and audited as a will', async () => {
    const { refusal, events } = setup('drop')
    const err = await new Promise<Error | null | undefined>((resolve) => refusal.publish(client, publish('x/y'), { reason: 'not-owner', will: true }, resolve))
    expect(err).toBeInstanceOf(Error)
    expect(events[0]?.kind).toBe('will')
  })

  it('a mode given with the refusal (publishRate.onExcess) wins over deniedPublish', async () => {
    const { refusal } = setup('drop')
    const err = await new Promise((resolve) => refusal.publish(client, publish(), { reason: 'publish-rate', mode: 'disconnect' }, resolve))
    expect(err).toBeInstanceOf(Error)
  })

  it('clips a long topic in the audit record', async () => {
    const { refusal, events } = setup('drop')
    await new Promise((resolve) => refusal.publish(client, publish('t/'.repeat(300)), { reason: 'topic-too-long' }, resolve))
    expect(events[0]?.topic).toHaveLength(257)
  })
})
