// The CLI's argument parsing.
import { describe, expect, it } from 'vitest'
import { listOf, parseArgs } from '../../apps/broker/src/cli/args.js'

describe('parseArgs', () => {
  const spec = { repeatable: ['role'], values: ['schema'], flags: ['update'] }
  it('collects positionals, repeatable values, flags and common options', () => {
    const p = parseArgs(['bob', '--role', 'a,b', '--role=c', '--json', '--url', 'http://x', '--update', '--', '--literal'], spec)
    expect(p.positionals).toEqual(['bob', '--literal'])
    expect(listOf(p, 'role')).toEqual(['a', 'b', 'c'])
    expect(p.flags).toEqual(new Set(['json', 'update']))
    expect(p.values.get('url')).toEqual(['http://x'])
  })
  it.each([
    [['--nope'], /unknown option --nope/],
    [['--schema'], /--schema needs a value/],
    [['--schema', 'a', '--schema', 'b'], /--schema is given twice/],
    [['--role='], /--role needs a value/]
  ])('refuses %j', (argv, message) => {
    expect(() => parseArgs(argv, spec)).toThrow(expect.objectContaining({ code: 'WARDEN_ERR_USAGE', message: expect.stringMatching(message) }))
  })
})
