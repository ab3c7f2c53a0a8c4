// Warden's aedes hooks as one pipeline: each hook runs an ordered list of stages (broker/hook-stages.ts
// holds the list and why each stage sits where it does). A stage answers the hook itself (a refusal, or an
// answer it has to give) or passes on with `next`; past the last stage the hook accepts. Like fastify's
// lib/hooks.js, the order is data in one place, not the nesting of wrappers.
//
// The way one PUBLISH goes, socket to subscribers:
//   net/listeners        the socket is admitted (connection count, rate per address)
//   limits/connection-patches  each packet is checked as it is parsed (size, malformed input)
//   aedes                parses PUBLISH, checks topic syntax and levels, calls authorizePublish:
//     retained quota     a retained message past its account's quota is delivered but not retained
//     limits             topic length, publish rate (delay, or refuse)
//     rules              control requests; ownership of the topic; payload schema → refuse or pass
//     flow control       held while a congested subscriber would receive it (flow/, at most maxHoldMs)
//     store-before-ack   QoS 1 is published (stored) before aedes writes its PUBACK
//   hooks/refusal        every refused publish: audited; `drop` completes the QoS flow to $WARDEN/void,
//                        `disconnect` (and any will) closes the connection
//   delivery/publish-gate   aedes.publish: numbered, stored (queues of persistent subscribers, retained),
//                        handed to subscribers in number order (mq.emit)
//   authorizeForward, per subscriber:
//     limits             a message the client already got through an overlapping subscription
//     consumer groups    a replay of a group copy that another member took
//     rules              the subscriber's read grants, checked per message; QoS capped
//   limits/connection-patches  a subscriber whose socket does not drain is cut off
import type { AedesPublishPacket, AuthenticateError, Client, ConnectPacket, PublishPacket, Subscription } from 'aedes'

export type PreConnectDone = (err: Error | null, ok: boolean) => void
export type AuthenticateDone = (err: AuthenticateError | null, ok: boolean | null) => void
export type PublishDone = (err?: Error | null) => void
export type SubscribeDone = (err: Error | null, sub?: Subscription | null) => void

/** the hooks aedes calls, as `Aedes.createBroker` takes them */
export interface AedesHooks {
  preConnect (client: Client, packet: ConnectPacket, cb: PreConnectDone): void
  authenticate (client: Client, username: string | undefined, password: Buffer | undefined, cb: AuthenticateDone): void
  authorizePublish (client: Client | null, packet: PublishPacket, cb: PublishDone): void
  authorizeSubscribe (client: Client, sub: Subscription, cb: SubscribeDone): void
  authorizeForward (client: Client, packet: AedesPublishPacket): AedesPublishPacket | null
}

/** One stage: any of the hooks, each with `next`, the stages after it. */
export interface HookStage {
  readonly name: string
  preConnect? (client: Client, packet: ConnectPacket, cb: PreConnectDone, next: AedesHooks['preConnect']): void
  authenticate? (client: Client, username: string | undefined, password: Buffer | undefined, cb: AuthenticateDone,
    next: AedesHooks['authenticate']): void
  authorizePublish? (client: Client | null, packet: PublishPacket, cb: PublishDone, next: AedesHooks['authorizePublish']): void
  authorizeSubscribe? (client: Client, sub: Subscription, cb: SubscribeDone, next: AedesHooks['authorizeSubscribe']): void
  authorizeForward? (client: Client, packet: AedesPublishPacket, next: AedesHooks['authorizeForward']): AedesPublishPacket | null
}

/** past the last stage: accepted */
const ACCEPT: AedesHooks = {
  preConnect: (_client, _packet, cb) => { cb(null, true) },
  authenticate: (_client, _username, _password, cb) => { cb(null, true) },
  authorizePublish: (_client, _packet, cb) => { cb(null) },
  authorizeSubscribe: (_client, sub, cb) => { cb(null, sub) },
  authorizeForward: (_client, packet) => packet
}

type Hook3<A, B, C> = (a: A, b: B, cb: C) => void
/** one stage in front of the hook `next` (the three-argument hooks) */
const link3 = <A, B, C> (run: (a: A, b: B, cb: C, next: Hook3<A, B, C>) => void, next: Hook3<A, B, C>): Hook3<A, B, C> =>
  (a, b, cb) => { run(a, b, cb, next) }

/**
 * Builds each hook once, at start-up, as a chain of closures: a call costs what the hand-nested wrappers
 * did (one function call per stage that has the hook, none for the others; no rest arguments).
 */
export function composeHooks (stages: readonly HookStage[]): AedesHooks {
  let { preConnect, authenticate, authorizePublish, authorizeSubscribe, authorizeForward } = ACCEPT
  for (const stage of [...stages].reverse()) {
    if (stage.preConnect !== undefined) preConnect = link3(stage.preConnect.bind(stage), preConnect)
    if (stage.authorizePublish !== undefined) authorizePublish = link3(stage.authorizePublish.bind(stage), authorizePublish)
    if (stage.authorizeSubscribe !== undefined) authorizeSubscribe = link3(stage.authorizeSubscribe.bind(stage), authorizeSubscribe)
    if (stage.authenticate !== undefined) {
      const run = stage.authenticate.bind(stage)
      const next = authenticate
      authenticate = (client, username, password, cb) => { run(client, username, password, cb, next) }
    }
    if (stage.authorizeForward !== undefined) {
      const run = stage.authorizeForward.bind(stage)
      const next = authorizeForward
      authorizeForward = (client, packet) => run(client, packet, next)
    }
  }
  return { preConnect, authenticate, authorizePublish, authorizeSubscribe, authorizeForward }
}
