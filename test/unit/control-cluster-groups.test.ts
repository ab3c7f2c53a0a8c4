// mergeGroups: a cluster's consumer groups as one list, whichever worker answers first.
import { describe, expect, it } from 'vitest'
import { mergeGroups } from '../../apps/broker/src/control/cluster-groups.js'
import type { GroupStats, MemberStats } from '../../apps/broker/src/groups/group-stats.js'

const member = (clientId: string, broker: string | null, delivered: number, inflight = 0): MemberStats =>
  ({ clientId, qos: 1, persistent: false, connected: broker !== null, broker, delivered, inflight })
const group = (name: string, members: MemberStats[], counts: Partial<GroupStats> = {}): GroupStats =>
  ({ group: name, filter: 'sensors/#', members, delivered: 0, redelivered: 0, queued: 0, dropped: 0, waiting: 0, ...counts })

describe('mergeGroups', () => {
  it('gives one entry per group: counts and member deliveries summed, each member with the worker it is connected to', () => {
    const merged = mergeGroups([
      { worker: 'a', data: [group('g', [member('m1', 'a', 3, 1), member('m2', 'b', 2)], { delivered: 5, redelivered: 1, queued: 2, dropped: 1, waiting: 7 })] },
      { worker: 'b', data: [group('g', [member('m2', 'b', 4), member('m1', 'a', 0)], { delivered: 4, queued: 1, waiting: 6 })] }
    ])
    expect(merged).toEqual([{
      group: 'g', filter: 'sensors/#', delivered: 9, redelivered: 1, queued: 3, dropped: 1,
      // one queue in Redis, read by each worker: the answering worker's reading, never a sum
      waiting: 7,
      members: [
        { ...member('m1', 'a', 3, 1), worker: 'a' },
        { ...member('m2', 'b', 6), worker: 'b' }
      ]
    }])
  })

  it('keeps groups of the same name on other filters apart, lists a group only one worker knows, offline members with no worker', () => {
    const merged = mergeGroups([
      { worker: 'a', data: [group('g', [member('m1', null, 1)])] },
      { worker: 'b', data: [{ ...group('g', []), filter: 'other/#' }, group('h', [member('m3', 'b', 2)], { delivered: 2 })] }
    ])
    expect(merged.map((g) => [g.group, g.filter, g.members.map((m) => `${m.clientId}@${String(m.worker)}`)])).toEqual([
      ['g', 'other/#', []], ['g', 'sensors/#', ['m1@null']], ['h', 'sensors/#', ['m3@b']]
    ])
  })

  it('gives nothing for no groups', () => {
    expect(mergeGroups([{ worker: 'a', data: [] }, { worker: 'b', data: [] }])).toEqual([])
  })
})
