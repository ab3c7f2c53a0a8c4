// Everything the control plane reads and changes, handed to the API, the control topic and the stats.
import type { Aedes, Client } from 'aedes'
import type { Logger } from '@warden/common'
import type { Audit } from '../audit/audit.js'
import type { WardenHooks } from '../hooks/hooks.js'
import type { WardenConfig } from '../config/schema.js'
import type { DenialLog } from '../observe/denial-log.js'
import type { Fleet } from '../observe/fleet.js'
import type { RecentMessages } from '../observe/recent-messages.js'
import type { Sampler } from '../observe/sampler.js'
import type { LiveRules } from '../registry/live-rules.js'
import type { Registry } from '../registry/registry.js'
import type { GroupStats } from '../groups/group-stats.js'
import type { Sessions } from '../sessions/sessions.js'
import type { ClusterView } from '../observe/cluster-view.js'

export interface ControlContext {
  readonly brokerId: string
  readonly startedAt: number
  readonly config: WardenConfig
  readonly broker: Aedes
  readonly hooks: WardenHooks
  readonly audit: Audit
  readonly registry: Registry
  readonly rules: LiveRules
  readonly sampler: Sampler
  readonly denials: DenialLog
  /** epoch ms of a connected client's CONNECT (its client id's binding: sessions/client-id-guard.ts) */
  readonly connectedAt: (client: Client) => number | undefined
  readonly counters: { connections: number }
  /** bound addresses, `host:port` */
  readonly listeners: { mqtt: string, http: string }
  readonly logger: Logger
  /** consumer groups ($share/…): members and what this process delivered to each */
  readonly groups: () => Promise<GroupStats[]>
  /** sessions by client id: list, show, end */
  readonly sessions: Sessions
  /** one row per account: connected, last seen, rate, last refusal */
  readonly fleet: Fleet
  /** the last messages of each registration (dashboard.recentMessages) */
  readonly recent: RecentMessages
  /** several workers on one Redis: asks the others for their part of clients, status, groups and metrics */
  readonly cluster?: ClusterView | undefined
}
