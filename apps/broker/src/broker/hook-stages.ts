// Warden's hook pipeline in order (hooks/pipeline.ts), each stage with why it sits where it does. A stage
// sees a hook before the stages after it, and their answer before aedes does.
import type { HookStage } from '../hooks/pipeline.js'

export interface OrderedStage {
  readonly stage: HookStage
  /** why it sits here */
  readonly why: string
}

export interface HookStageDeps {
  ackOrder: HookStage
  v5Connack: HookStage
  storeHealth: HookStage
  connectOrder: HookStage
  clientIds: HookStage
  retained: HookStage
  limits: HookStage
  /** cluster mode only (a bus on Redis): no stage, and nothing done per delivery, on one process */
  busGap: HookStage | undefined
  groups: HookStage
  rules: HookStage
  outbound: HookStage
  flow: HookStage
  storeBeforeAck: HookStage
}

export function hookStages (s: HookStageDeps): readonly OrderedStage[] {
  return [
    {
      stage: s.ackOrder,
      why: 'outermost on authorizePublish: it records every QoS 1 and 2 publish of a connection before any stage can answer it, so ' +
        'that its PUBACK or PUBREC waits for those of the publishes before it (hooks/ack-order.ts, MQTT-4.6.0-2/-3)'
    },
    {
      stage: s.v5Connack,
      why: 'outermost on authenticate: it sees every stage\'s refusal of a CONNECT, and gives an MQTT 5 client the code the refusal names'
    },
    {
      stage: s.storeHealth,
      why: 'before anything that reads the store: while Redis is unreachable a CONNECT is refused at once rather than left waiting on it'
    },
    {
      stage: s.connectOrder,
      why: 'just outside the client-id binding: a CONNECT it admitted waits there until the one admitted before it for the same id ' +
        'has its CONNACK, so that each takeover finds a connection it may tell DISCONNECT 0x8E (sessions/connect-order.ts)'
    },
    {
      stage: s.clientIds,
      why: 'first in, last out: it claims the client id only once every other stage has admitted the CONNECT, so a refused one claims nothing'
    },
    {
      stage: s.retained,
      why: 'before the other stages: a retained publish reserves its quota before anything can publish it, and gets it back when a later stage refuses it'
    },
    {
      stage: s.limits,
      why: 'before the rules: cheap refusals (rate, length, subscriptions) and login throttling come before password verification and ownership'
    },
    ...(s.busGap === undefined
      ? []
      : [{
          stage: s.busGap,
          why: 'on authorizeForward, next to the limits\' repeat filter and before anything counts a delivery: a live copy of a message ' +
        'a queue replay sent after a bus outage is not forwarded (delivery/bus-gap.ts)'
        }]),
    {
      stage: s.groups,
      why: 'before the rules: a $share/ filter is judged by its plain filter, and a group replay another member took is never forwarded'
    },
    {
      stage: s.rules,
      why: 'ownership, read grants, wills, control requests: every publish that reaches past it is accepted'
    },
    {
      stage: s.outbound,
      why: 'after the rules on authorizeForward: only a message the subscriber may read, at the QoS it gets, is timed out, given its ' +
        'Subscription Identifiers and measured against its Maximum Packet Size'
    },
    {
      stage: s.flow,
      why: 'after the rules, before anything is stored: only a publish that will be accepted waits for a congested subscriber ' +
        '(flow/), and while it waits nothing of it is stored or acknowledged; on authorizeForward it counts only what a ' +
        'subscriber is sent'
    },
    {
      stage: s.storeBeforeAck,
      why: 'last: only an accepted QoS 1 message is published before aedes writes its PUBACK'
    }
  ]
}
