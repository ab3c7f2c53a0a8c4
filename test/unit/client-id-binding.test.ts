// The pure rule of client-id binding: who may take a client id held by a binding.
import { describe, expect, it } from 'vitest'
import { mayClaim, type Binding } from '../../apps/broker/src/policy/client-id-binding.js'

const held = (account: string | null, clean: boolean): Binding => ({ account, clean, connected: true, brokerId: 'b1', conn: 'c1', since: 0 })
const state = (alive: boolean, exists = true): Parameters<typeof mayClaim>[2] => ({ connectionAlive: () => alive, accountExists: () => exists })

describe('mayClaim', () => {
  it.each([
    // held, claimant, connection alive, holder's account exists, may claim
    [undefined, 'alice', true, true, true],
    [held('alice', false), 'alice', true, true, true],
    [held('alice', true), 'alice', true, true, true],
    [held('alice', false), 'bob', true, true, false],
    [held('alice', false), 'bob', false, true, false], // an offline persistent session stays alice's
    [held('alice', true), 'bob', true, true, false],
    [held('alice', true), 'bob', false, true, true], // a clean session ended with its connection
    [held('alice', false), 'bob', true, false, true], // a deleted account holds nothing
    [held('alice', false), null, true, true, false], // anonymous cannot take an account's id
    [held(null, false), 'alice', true, true, false], // nor an account anonymous clients' ids
    [held(null, false), null, true, true, true], // anonymous clients share one account
    [held('Alice', false), 'alice', true, true, false] // names compare exactly, as client ids do
  ] as const)('%o claimed by %o (alive %o, exists %o): %o', (h, claimant, alive, exists, expected) => {
    expect(mayClaim(h, claimant, state(alive, exists))).toBe(expected)
  })
})
