// The hardening settings: defaults, ranges, and cross-key checks naming the key.
import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../apps/broker/src/config/load-config.js'

describe('hardening config', () => {
  it.each([
    [{ limits: { maxPacketBytes: 10 } }, /limits\.maxPacketBytes: must be >= 64/],
    [{ limits: { maxPacketBytes: 1048576, maxOutgoingBytes: 1048576 } },
      /limits\.maxOutgoingBytes: must be 0 \(no bound\) or at least twice limits\.maxPacketBytes \(2097152\)/],
    [{ limits: { publishRate: { onExcess: 'queue' } } }, /limits\.publishRate\.onExcess: must be one of "delay", "drop", "disconnect"/],
    [{ limits: { publishRate: { perSecond: 10, burst: 0 } } }, /limits\.publishRate\.burst: must be >= 1/],
    [{ limits: { connectionRate: { perSecond: -1 } } }, /limits\.connectionRate\.perSecond: must be >= 0/],
    [{ limits: { flowControl: { highWater: 0.2, lowWater: 0.3 } } }, /limits\.flowControl\.lowWater: must be less than limits\.flowControl\.highWater/],
    [{ limits: { flowControl: { highWater: 1.5 } } }, /limits\.flowControl\.highWater/],
    [{ limits: { flowControl: { maxHoldMs: 0 } } }, /limits\.flowControl\.maxHoldMs/],
    [{ limits: { login: { lockoutMs: 5000, maxLockoutMs: 1000 } } }, /limits\.login\.maxLockoutMs: must not be less than limits\.login\.lockoutMs/],
    [{ limits: { login: { delayMs: 500, maxDelayMs: 100 } } }, /limits\.login\.maxDelayMs: must not be less than limits\.login\.delayMs/],
    [{ limits: { maxConnectionsPerUsr: 3 } }, /limits\.maxConnectionsPerUsr: is not a known setting/],
    [{ ws: { enabled: true, path: 'mqtt' } }, /ws\.path: must match pattern/],
    [{ mqtt: { port: 40000 }, ws: { enabled: true, port: 40000 } }, /ws\.port: 40000 is already taken by mqtt\.port/],
    [{ ws: { enabled: true, port: 9001 }, wss: { enabled: true, port: 9001 }, tls: { cert: 'c', key: 'k' } }, /wss\.port: 9001 is already taken by ws\.port/]
  ])('refuses %j, naming the key', (data, message) => {
    expect(() => parseConfig(data, 'w.yaml')).toThrow(message)
  })

  it('accepts 0 as "no limit" for the counts and rates', () => {
    const c = parseConfig({
      limits: {
        maxConnections: 0, maxConnectionsPerUser: 0, maxSubscriptionsPerClient: 0, maxQueuedMessages: 0, maxOutgoingBytes: 0,
        publishRate: { perSecond: 0 }, connectionRate: { perSecond: 0 }
      }
    }, 'w.yaml')
    expect(c.limits.maxOutgoingBytes).toBe(0)
    expect(c.limits.publishRate).toEqual({ perSecond: 0, burst: 5000, onExcess: 'delay' })
  })
})
