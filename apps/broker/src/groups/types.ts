// The shapes the consumer-group pieces pass between them.
import type { CopyProperties } from './copy-properties.js'

export type QoS = 0 | 1 | 2

/** One group's copy of a message: what a member gets, what waits in the group's queue. */
export interface Copy {
  /** the group key, `{group}/{filter}` */
  readonly key: string
  readonly topic: string
  readonly payload: Buffer
  /** the published QoS; each member gets min(this, its granted QoS) */
  readonly qos: QoS
  /** the copy's identity (see copyBrokerId) and the origin's counter */
  readonly brokerId: string
  readonly brokerCounter: number
  /** MQTT 5: the published message's properties its receivers get (copy-properties.ts) */
  readonly properties?: CopyProperties | undefined
  /** MQTT 5: when the message expires (epoch ms, from its Message Expiry Interval, as aedes records it) */
  readonly messageExpiry?: number | undefined
}

/** A member as every broker process sees it. */
export interface MemberRecord {
  readonly qos: QoS
  /** clean=false: the member stays in the group while offline, and its group keeps messages for it */
  readonly persistent: boolean
  /** the broker process it is connected to; null while offline */
  readonly broker: string | null
}

export type Members = Map<string, MemberRecord>
