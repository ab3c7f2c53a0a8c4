// @warden/common's env overrides: blank means unset, values are trimmed, applied in order onto the file's data.
import { describe, expect, it } from 'vitest'
import { applyEnvOverrides, envValue, parseIntegerEnv, parsePortEnv, setConfigPath, type EnvOverride } from '../../packages/common/src/index.js'

describe('envValue', () => {
  it.each([
    [undefined, undefined], ['', undefined], ['   ', undefined], ['x', 'x'], [' 1883 ', '1883']
  ])('%j → %j', (value, want) => {
    expect(envValue({ V: value }, 'V')).toBe(want)
  })
})

describe('applyEnvOverrides', () => {
  const overrides: EnvOverride[] = [
    { name: 'A_PORT', apply: (v, d) => { setConfigPath(d, 'mqtt.port', parsePortEnv('A_PORT', v)) } },
    { name: 'A_DIR', apply: (v, d) => { d.dataDir = v } },
    { name: 'A_N', apply: (v, d) => { d.n = parseIntegerEnv('A_N', v) } }
  ]

  it('applies the set variables in order, keeps sibling keys, and names what it applied', () => {
    const data: Record<string, unknown> = { mqtt: { host: 'h', port: 1 }, dataDir: './d' }
    expect(applyEnvOverrides(data, { A_PORT: '1884', A_DIR: ' ', A_N: '-3' }, overrides)).toEqual(['A_PORT', 'A_N'])
    expect(data).toEqual({ mqtt: { host: 'h', port: 1884 }, dataDir: './d', n: -3 })
  })

  it('changes nothing when nothing is set', () => {
    const data = { x: 1 }
    expect(applyEnvOverrides(data, {}, overrides)).toEqual([])
    expect(data).toEqual({ x: 1 })
  })

  it.each([
    ['A_PORT', '70000', 'A_PORT: must be a port number 0-65535, got "70000"'],
    ['A_PORT', '12a', 'A_PORT: must be a port number 0-65535, got "12a"'],
    ['A_N', '1.5', 'A_N: must be an integer, got "1.5"']
  ])('a bad %s names the variable', (name, value, message) => {
    expect(() => applyEnvOverrides({}, { [name]: value }, overrides)).toThrow(expect.objectContaining({ code: 'WARDEN_ERR_CONFIG_INVALID', message }))
  })
})

describe('setConfigPath', () => {
  it('creates missing levels and replaces non-object ones without touching the original object', () => {
    const inner = { keep: true }
    const data: Record<string, unknown> = { a: inner, b: 'str' }
    setConfigPath(data, 'a.x', 1)
    setConfigPath(data, 'b.y.z', 2)
    setConfigPath(data, 'top', 3)
    expect(data).toEqual({ a: { keep: true, x: 1 }, b: { y: { z: 2 } }, top: 3 })
    expect(inner).toEqual({ keep: true })
  })
})
