// Every coded error in the catalogue is documented in docs/errors.md, and the docs invent none.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ERROR_CODES } from '../../packages/common/src/errors.js'

const DOC = readFileSync(join(import.meta.dirname, '../../docs/errors.md'), 'utf8')
const ROWS = new Map(
  DOC.split('\n')
    .map((line) => /^\|\s*`(WARDEN_ERR_[A-Z_]+)`\s*\|(.*)\|(.*)\|\s*$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [m[1] as string, { meaning: (m[2] as string).trim(), todo: (m[3] as string).trim() }])
)

describe('docs/errors.md', () => {
  it.each(Object.keys(ERROR_CODES))('documents %s with a meaning and what to do', (code) => {
    const row = ROWS.get(code)
    expect(row, `no table row for ${code}`).toBeDefined()
    expect(row?.meaning.length).toBeGreaterThan(20)
    expect(row?.todo.length).toBeGreaterThan(20)
  })

  it('mentions no code that the catalogue lacks', () => {
    const mentioned = new Set(DOC.match(/WARDEN_ERR_[A-Z_]+/g) ?? [])
    for (const code of mentioned) expect(Object.keys(ERROR_CODES), code).toContain(code)
  })

  it('has one row per code', () => {
    expect([...ROWS.keys()].sort()).toEqual(Object.keys(ERROR_CODES).sort())
  })
})
