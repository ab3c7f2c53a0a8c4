// The dashboard's live page of a cluster in headless Chromium: two broker processes on a private Redis, the
// browser signed in on one of them while all traffic and refusals happen on the other. The overview's rates,
// its chart and its latest refusals are the cluster's; the refusals page names the worker of each.
import { chromium, type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { PASSWORD } from '../helpers/broker.js'
import { useCluster, type BrokerNode } from '../helpers/cluster.js'
import { publish } from '../helpers/mqtt.js'
import { useScope } from '../helpers/scope.js'

const CHROMIUM = process.env.WARDEN_CHROMIUM ?? '/usr/bin/chromium'
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'
]

const cluster = useCluster('warden-dashboard-cluster-', { stats: { intervalMs: 250, sysIntervalMs: 60_000 } })
const scope = useScope()
let browser: Browser

beforeAll(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS })
}, 60_000)
afterAll(async () => { await browser?.close() })

async function signedIn (n: BrokerNode): Promise<{ page: Page, problems: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
  scope.defer(() => context.close())
  const page = await context.newPage()
  const problems: string[] = []
  page.on('pageerror', (err) => problems.push(err.message))
  // the page's first request, before signing in, is refused (401): that is the sign-in's doing
  page.on('console', (m) => { if (m.type() === 'error' && !/status of 401/.test(m.text())) problems.push(m.text()) })
  await page.goto(`${n.http}/`)
  await page.locator('#username').fill('observer')
  await page.locator('#password').fill(PASSWORD)
  await page.locator('#sign-in').click()
  await page.waitForURL(`${n.http}/dashboard/`)
  return { page, problems }
}

it('shows on one worker\'s overview the traffic and refusals of the other', async () => {
  const [a, b] = await Promise.all([cluster.startNode({ WARDEN_BROKER_ID: 'dc-a' }), cluster.startNode({ WARDEN_BROKER_ID: 'dc-b' })])
  const { page, problems } = await signedIn(a)
  await expect.poll(() => page.locator('#live').textContent(), { timeout: 10_000 }).toBe('live')

  const s1 = await scope.client('sensor-1', {}, b)
  const intruder = await scope.client('sensor-2', {}, b)
  let n = 0
  const traffic = setInterval(() => { n++; s1.client.publish('sensors/sensor-1/t', String(n), { qos: 0 }) }, 20)
  scope.defer(() => clearInterval(traffic))
  await publish(intruder, 'sensors/sensor-1/on-b', 'x', { qos: 1 })

  // every message is b's: a's stream shows them only if it sums b's samples
  await expect.poll(async () => Number(await page.locator('#rate-in').textContent()), { timeout: 15_000 }).toBeGreaterThan(10)
  await expect.poll(() => page.locator('#chart-window').textContent(), { timeout: 10_000 }).toMatch(/2 workers summed/)
  await expect.poll(() => page.locator('#top-denials td.mono').allTextContents(), { timeout: 10_000 }).toContain('sensors/sensor-1/on-b')
  expect(await page.locator('#top-denials tr[title="refused by worker dc-b"]').count()).toBeGreaterThan(0)

  await page.locator('#nav a[data-view="refusals"]').click()
  await expect.poll(() => page.locator('#refusal-table td.worker').allTextContents(), { timeout: 10_000 }).toContain('dc-b')
  expect(problems).toEqual([])
})
