// A group's round robin: every eligible member in turn, none twice while another waits, balance exact.
import { describe, expect, it } from 'vitest'
import { Group } from '../../apps/broker/src/groups/group.js'
import type { MemberRecord } from '../../apps/broker/src/groups/types.js'

const share = { group: 'g', filter: 'a/#', key: 'g/a/#' }
const on = (qos: 0 | 1 | 2 = 1, persistent = false): MemberRecord => ({ qos, persistent, broker: 'b1' })
const off = (qos: 0 | 1 | 2 = 1, persistent = true): MemberRecord => ({ qos, persistent, broker: null })
const all = (): boolean => true

function picks (g: Group, n: number, eligible: (id: string, rec: MemberRecord) => boolean = all): Map<string, number> {
  const out = new Map<string, number>()
  for (let i = 0; i < n; i++) {
    const id = g.pick(eligible)
    if (id !== undefined) out.set(id, (out.get(id) ?? 0) + 1)
  }
  return out
}

describe('Group.pick', () => {
  it('takes members in turn', () => {
    const g = new Group(share)
    for (const id of ['a', 'b', 'c']) g.set(id, on())
    expect(Array.from({ length: 7 }, () => g.pick(all))).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'a'])
  })

  it.each([1, 2, 3, 5, 8])('splits 3000 picks exactly among %i members', (n) => {
    const g = new Group(share)
    for (let i = 0; i < n; i++) g.set(`m${i}`, on())
    const counts = picks(g, 3000)
    const each = Math.floor(3000 / n)
    expect(counts.size).toBe(n)
    for (const c of counts.values()) expect(c === each || c === each + 1).toBe(true)
  })

  it('skips members that are offline or not eligible, and keeps the turn fair among the rest', () => {
    const g = new Group(share)
    g.set('a', on())
    g.set('b', off())
    g.set('c', on())
    g.set('d', on())
    const counts = picks(g, 300, (id, rec) => rec.broker !== null && id !== 'd')
    expect(Object.fromEntries(counts)).toEqual({ a: 150, c: 150 })
  })

  it('answers undefined when nobody is eligible', () => {
    const g = new Group(share)
    expect(g.pick(all)).toBeUndefined()
    g.set('a', off())
    expect(g.pick((_id, rec) => rec.broker !== null)).toBeUndefined()
  })

  it('keeps the turn of the members that stay when another process\'s view replaces its members', () => {
    const g = new Group(share)
    for (const id of ['a', 'b', 'c']) g.set(id, on())
    expect(g.pick(all)).toBe('a')
    g.replace(new Map([['b', on()], ['c', on()], ['d', on()]]))
    expect([g.pick(all), g.pick(all), g.pick(all), g.pick(all)]).toEqual(['b', 'c', 'd', 'b'])
    expect([...g.members.keys()]).toEqual(['b', 'c', 'd'])
  })

  it('forgets a member\'s delivery count when it leaves', () => {
    const g = new Group(share)
    g.set('a', on())
    g.countDelivery('a', false)
    g.countDelivery('a', true)
    expect(g.counts).toMatchObject({ delivered: 2, redelivered: 1 })
    expect(g.deliveredTo.get('a')).toBe(2)
    expect(g.delete('a')).toBe(true)
    expect(g.delete('a')).toBe(false)
    expect(g.deliveredTo.has('a')).toBe(false)
  })
})

describe('Group state', () => {
  it.each([
    [[on(1, false)], true, false],
    [[off(1, true)], false, true],
    [[off(0, true)], false, false],
    [[on(2, true), off(1, false)], true, true],
    [[], false, false]
  ])('members %j: connected=%s, keeps messages=%s', (members, connected, keeps) => {
    const g = new Group(share)
    members.forEach((m, i) => g.set(`m${i}`, m))
    expect(g.connected).toBe(connected)
    expect(g.keepsMessages).toBe(keeps)
  })
})
