// The dashboard in headless Chromium (Debian's, driven by playwright-core) against a running broker: it
// shows the registered topics and a live message rate. The test saves a screenshot in test-results/.
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { chromium, type Browser } from 'playwright-core'
import { beforeAll, expect, it } from 'vitest'
import { PASSWORD, type TestBroker } from '../helpers/broker.js'
import { httpUrl, post } from '../helpers/http.js'
import { publish, subscribe } from '../helpers/mqtt.js'
import { ROOT } from '../helpers/process.js'
import { useScope } from '../helpers/scope.js'

const CHROMIUM = process.env.WARDEN_CHROMIUM ?? '/usr/bin/chromium'
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'
]

const scope = useScope()
let tb: TestBroker
let browser: Browser

beforeAll(async () => {
  tb = await scope.start({ config: { stats: { intervalMs: 250, sysIntervalMs: 60000 } } })
  await post(tb, '/api/v1/topics', {
    filter: 'sensors/sensor-1/temp', owners: ['sensor-1'], schema: { type: 'object', required: ['c'], properties: { c: { type: 'number' } } }
  })
  const [s1, s2, reader, intruder] = await Promise.all(['sensor-1', 'sensor-2', 'dashboard', 'sensor-2'].map((u) => scope.client(u)))
  await subscribe(reader!, 'sensors/#', 0)
  await publish(intruder!, 'sensors/sensor-1/temp', '{"c":99}', { qos: 1 })
  await publish(s1!, 'sensors/sensor-1/temp', '{"c":"warm"}', { qos: 1 })
  // steady traffic for the chart: about 40 msg/s from sensor-1 and 10 msg/s from sensor-2
  let n = 0
  const traffic = setInterval(() => {
    n++
    s1!.client.publish('sensors/sensor-1/temp', JSON.stringify({ c: 20 + Math.sin(n / 10) }), { qos: 0 })
    if (n % 4 === 0) s2!.client.publish('sensors/sensor-2/humidity', String(40 + (n % 7)), { qos: 1 })
  }, 25)
  // deferred steps run before the clients are ended: the traffic stops first
  scope.defer(() => clearInterval(traffic))
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS })
  scope.defer(() => browser.close())
}, 60_000)

it('needs the credentials of an observer or admin', async () => {
  const anonymous = await browser.newContext()
  const consumer = await browser.newContext({ httpCredentials: { username: 'dashboard', password: PASSWORD } })
  try {
    // headless Chromium cannot show the Basic prompt: the 401 fails the navigation
    await expect((await anonymous.newPage()).goto(httpUrl(tb, '/dashboard/'))).rejects.toThrow(/ERR_INVALID_AUTH_CREDENTIALS/)
    const res = await (await consumer.newPage()).goto(httpUrl(tb, '/dashboard/'))
    expect(res?.status()).toBe(403)
  } finally {
    await anonymous.close()
    await consumer.close()
  }
})

it('shows the registered topics with their owners and a live message rate', async () => {
  const context = await browser.newContext({ httpCredentials: { username: 'observer', password: PASSWORD }, viewport: { width: 1280, height: 1000 } })
  const problems: string[] = []
  try {
    const page = await context.newPage()
    page.on('pageerror', (err) => problems.push(err.message))
    page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()) })
    const res = await page.goto(httpUrl(tb, '/'))
    expect(res?.status()).toBe(200)
    expect(page.url()).toBe(httpUrl(tb, '/dashboard/'))

    const row = page.locator('#topics tr[data-filter="sensors/sensor-1/#"]')
    await row.waitFor()
    await expect.poll(() => row.locator('td').nth(1).textContent()).toBe('sensor-1')
    const filters = await page.locator('#topics tr[data-filter]').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.filter))
    expect(filters).toEqual([
      'devices/{username}/cmd/#', 'devices/{username}/telemetry', 'private/#', 'sensors/sensor-1/#', 'sensors/sensor-1/temp',
      'sensors/sensor-2/#', 'sensors/shared/#'
    ])
    await expect.poll(() => page.locator('#topics tr[data-filter="sensors/sensor-1/temp"] td').nth(6).textContent()).toBe('yes')

    // live: the overall rate and the topic's own rate come from server-sent events
    await expect.poll(async () => Number(await page.locator('#rate-in').textContent()), { timeout: 15_000 }).toBeGreaterThan(10)
    const rate = page.locator('#topics tr[data-filter="sensors/sensor-1/temp"] td.rate')
    await expect.poll(async () => Number(await rate.textContent()), { timeout: 15_000 }).toBeGreaterThan(10)
    await expect.poll(() => page.locator('#live').textContent()).toBe('live')
    await expect.poll(async () => Number(await page.locator('#clients').textContent())).toBe(4)
    // the refusals: a non-owner and a payload failing the schema
    await expect.poll(() => page.locator('#denials td.deny').allTextContents()).toEqual(expect.arrayContaining(['not-owner', 'schema-violation']))
    await expect.poll(async () => (await page.locator('#client-list tbody tr').count())).toBe(4)

    // let the chart fill a little, then keep a picture for people to look at
    await page.waitForFunction(() => (document.getElementById('chart') as HTMLCanvasElement).width > 0)
    await expect.poll(() => page.evaluate(() => performance.now()), { timeout: 15_000 }).toBeGreaterThan(6000)
    await mkdir(join(ROOT, 'test-results'), { recursive: true })
    await page.screenshot({ path: join(ROOT, 'test-results', 'dashboard.png'), fullPage: true })
    // the README's picture is refreshed on request only, so that test runs leave the repository unchanged
    if (process.env.WARDEN_UPDATE_SCREENSHOT === '1') await page.screenshot({ path: join(ROOT, 'docs', 'dashboard.png'), fullPage: true })
    expect(problems).toEqual([])
  } finally {
    await context.close()
  }
})
