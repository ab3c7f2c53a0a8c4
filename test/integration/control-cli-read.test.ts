// `warden clients`, `warden sessions`, `warden denials`, `warden groups`: the built CLI as a child process
// reading a running broker through its HTTP API, as a table and as --json.
import { beforeEach, describe, expect, it } from 'vitest'
import type { AuditEvent } from '../../apps/broker/src/audit/audit.js'
import { PASSWORD } from '../helpers/broker.js'
import { runCli } from '../helpers/cli.js'
import { httpUrl } from '../helpers/http.js'
import { publish, subscribe } from '../helpers/mqtt.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
let env: Record<string, string>
beforeEach(async () => {
  const tb = await scope.start()
  // an observer may read all of these
  env = { WARDEN_URL: httpUrl(tb), WARDEN_ADMIN_USER: 'observer', WARDEN_ADMIN_PASSWORD: PASSWORD }
})

const header = (out: string): string => out.split('\n')[0] ?? ''

describe('warden clients', () => {
  it('lists connected clients with account, address and subscriptions; --limit cuts the list and says so', async () => {
    const a = await scope.client('dashboard', { clientId: 'dash-a' })
    expect(await subscribe(a, ['sensors/#', 'sensors/sensor-1/x'], 1)).toEqual([1, 1])
    await scope.client('sensor-1', { clientId: 'sens-b', clean: false })
    const r = await runCli(['clients'], { env })
    expect(r.code).toBe(0)
    expect(header(r.stdout)).toMatch(/^CLIENT ID\s+USERNAME\s+ADDRESS\s+CLEAN\s+SUBSCRIPTIONS\s+QUEUED BYTES\s+CONNECTED AT$/)
    expect(r.stdout).toMatch(/^dash-a\s+dashboard\s+127\.0\.0\.1\s+yes\s+2\s+\d+\s+\d{4}-\d\d-\d\dT/m)
    expect(r.stdout).toMatch(/^sens-b\s+sensor-1\s+127\.0\.0\.1\s+no\s+0\s+\d+\s+\d{4}-/m)
    expect(r.stderr).toBe('')
    const one = await runCli(['clients', '--limit', '1'], { env })
    expect(one.stdout.trimEnd().split('\n')).toHaveLength(2)
    expect(one.stderr).toBe('(1 of 2 shown; --limit to see more)\n')
    const json = JSON.parse((await runCli(['clients', '--json'], { env })).stdout)
    expect(json.total).toBe(2)
    expect(json.clients[0]).toMatchObject({
      clientId: 'dash-a', username: 'dashboard', subscriptions: [{ filter: 'sensors/#', qos: 1 }, { filter: 'sensors/sensor-1/x', qos: 1 }]
    })
  })
})

describe('warden sessions', () => {
  it('lists sessions by client id, like `warden session ls`', async () => {
    const c = await scope.client('sensor-2', { clientId: 'keep-me', clean: false })
    await subscribe(c, 'devices/sensor-2/cmd/#', 1)
    const r = await runCli(['sessions'], { env })
    expect(r.code).toBe(0)
    expect(header(r.stdout)).toMatch(/^CLIENT ID\s+ACCOUNT\s+CONNECTED\s+CLEAN\s+SUBSCRIPTIONS\s+SINCE$/)
    expect(r.stdout).toMatch(/^keep-me\s+sensor-2\s+yes\s+no\s+1\s+\d{4}-/m)
    expect(r.stdout).toBe((await runCli(['session', 'ls'], { env })).stdout)
    expect(JSON.parse((await runCli(['sessions', '--json'], { env })).stdout))
      .toMatchObject({ total: 1, sessions: [{ clientId: 'keep-me', account: 'sensor-2' }] })
  })
})

describe('warden denials', () => {
  it('says there are none, then lists refusals with counts by reason and by account', async () => {
    expect(await runCli(['denials'], { env })).toMatchObject({ code: 0, stdout: 'no refusals since the broker started\n' })
    const s1 = await scope.client('sensor-1', { clientId: 'rogue' })
    const recorded = new Promise<AuditEvent>((resolve) => scope.tb.broker.audit.onRecord(resolve))
    await publish(s1, 'sensors/sensor-2/temp', '1', { qos: 1 })
    const event = await recorded
    const r = await runCli(['denials'], { env })
    expect(r.code).toBe(0)
    expect(header(r.stdout)).toMatch(/^TIME\s+KIND\s+REASON\s+USERNAME\s+CLIENT ID\s+ADDRESS\s+TOPIC$/)
    const ts = event.ts.replace(/\./g, '\\.')
    expect(r.stdout).toMatch(new RegExp(`^${ts}\\s+publish\\s+${event.reason}\\s+sensor-1\\s+rogue\\s+\\S+\\s+sensors/sensor-2/temp$`, 'm'))
    expect(r.stdout).toMatch(new RegExp(`^1 refused since start: publish:${event.reason} 1$`, 'm'))
    expect(r.stdout).toMatch(/^by account: sensor-1 1$/m)
    const json = JSON.parse((await runCli(['denials', '--json'], { env })).stdout)
    expect(json).toMatchObject({ total: 1, byUser: { 'sensor-1': 1 }, recent: [{ kind: 'publish', clientId: 'rogue', topic: 'sensors/sensor-2/temp' }] })
  })

  it('--limit keeps only the latest refusals', async () => {
    const s1 = await scope.client('sensor-1')
    let seen = 0
    const three = new Promise<void>((resolve) => scope.tb.broker.audit.onRecord(() => { if (++seen === 3) resolve() }))
    for (const t of ['a', 'b', 'c']) await publish(s1, `sensors/sensor-2/${t}`, '1', { qos: 1 })
    await three
    const json = JSON.parse((await runCli(['denials', '--limit', '2', '--json'], { env })).stdout)
    expect(json.total).toBe(3)
    expect(json.recent.map((d: { topic: string }) => d.topic)).toEqual(['sensors/sensor-2/b', 'sensors/sensor-2/c'])
  })
})

describe('warden groups', () => {
  it('says there are none, then lists each group and its members', async () => {
    expect(await runCli(['groups'], { env })).toMatchObject({ code: 0, stdout: 'no consumer groups\n' })
    for (const id of ['worker-a', 'worker-b']) {
      expect(await subscribe(await scope.client('dashboard', { clientId: id }), '$share/workers/sensors/#', 1)).toEqual([1])
    }
    const r = await runCli(['groups'], { env })
    expect(r.code).toBe(0)
    const [groups, members] = r.stdout.split('\n\n')
    expect(header(groups ?? '')).toMatch(/^GROUP\s+FILTER\s+MEMBERS\s+DELIVERED\s+REDELIVERED\s+WAITING\s+DROPPED$/)
    expect(groups).toMatch(/^workers\s+sensors\/#\s+2\/2\s+0\s+0\s+0\s+0$/m)
    expect(header(members ?? '')).toMatch(/^GROUP\s+FILTER\s+MEMBER\s+QOS\s+PERSISTENT\s+CONNECTED\s+DELIVERED\s+IN FLIGHT$/)
    expect(members).toMatch(/^workers\s+sensors\/#\s+worker-a\s+1\s+no\s+yes\s+0\s+0$/m)
    expect(members).toMatch(/^workers\s+sensors\/#\s+worker-b\s+1\s+no\s+yes\s+0\s+0$/m)
    expect(JSON.parse((await runCli(['groups', '--json'], { env })).stdout).groups).toMatchObject([{ group: 'workers', filter: 'sensors/#' }])
  })
})

describe('refusals', () => {
  it.each([
    [['clients', 'extra'], /^warden clients: takes no arguments \(WARDEN_ERR_USAGE\)\nusage: warden clients \[--limit N\]/],
    [['denials', '--limit', '0'], /^warden denials: --limit must be a positive integer \(WARDEN_ERR_USAGE\)/],
    [['groups', '--limit', '3'], /^warden groups: unknown option --limit \(WARDEN_ERR_USAGE\)/],
    [['sessions', '--limit', 'x'], /^warden sessions: --limit must be a positive integer \(WARDEN_ERR_USAGE\)/]
  ])('exits 2 with the command\'s usage for %j', async (args, message) => {
    const r = await runCli(args, { env })
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(message)
  })

  it('needs an admin or observer account', async () => {
    const r = await runCli(['clients'], { env: { ...env, WARDEN_ADMIN_USER: 'dashboard' } })
    expect(r.code).toBe(4)
  })
})
