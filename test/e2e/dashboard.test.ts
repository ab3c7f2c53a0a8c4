// The dashboard in headless Chromium (Debian's, driven by playwright-core) against a running broker (issue 18,
// items 1-4): signing in, an admin registering a topic for a new account, that account publishing with the
// real mosquitto_pub and its fleet row moving, the registration revoked and the next publish in the refusals,
// an observer without controls, sign-in throttling, the cookie's flags, a cross-site post refused. Screenshots
// go to test-results/; WARDEN_UPDATE_SCREENSHOT=1 also writes the README's pictures in docs/.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { beforeAll, expect, it } from 'vitest'
import { PASSWORD, type TestBroker } from '../helpers/broker.js'
import { get, httpUrl, post, topicPath } from '../helpers/http.js'
import { mosquittoPub } from '../helpers/mosquitto.js'
import { publish, subscribe } from '../helpers/mqtt.js'
import { ROOT } from '../helpers/process.js'
import { useScope } from '../helpers/scope.js'

const CHROMIUM = process.env.WARDEN_CHROMIUM ?? '/usr/bin/chromium'
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'
]
const METER = 'meter-7'
const METER_PASSWORD = 'meter-7-secret'
const METER_TREE = 'plants/plant-1/meter-7/#'
const AS_METER = ['-u', METER, '-P', METER_PASSWORD, '-i', `${METER}-pub`, '-q', '1']

const scope = useScope()
/** what the page shows after a request: seconds on a machine others load too */
const poll = <T>(fn: () => T | Promise<T>): ReturnType<typeof expect.poll<T>> => expect.poll(fn, { timeout: 10_000 })
let tb: TestBroker
let browser: Browser

beforeAll(async () => {
  tb = await scope.start({
    config: {
      stats: { intervalMs: 250, sysIntervalMs: 60000 },
      dashboard: { recentMessages: 5 },
      // the thresholds MQTT and the sign-in page share, low enough for a test
      limits: { login: { maxFailuresPerUserAddress: 3, delayMs: 0 } }
    }
  })
  await post(tb, '/api/v1/topics', {
    filter: 'sensors/sensor-1/temp', owners: ['sensor-1'], schema: { type: 'object', required: ['c'], properties: { c: { type: 'number' } } }
  })
  await post(tb, '/api/v1/users', { username: 'ops', password: 'ops-password', roles: ['observer'] })
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

async function newPage (): Promise<{ context: BrowserContext, page: Page, problems: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
  scope.defer(() => context.close())
  const page = await context.newPage()
  const problems: string[] = []
  page.on('pageerror', (err) => problems.push(err.message))
  // a refused request (the sign-in's 401 and 429) is logged by Chromium as a console error: that is the test's doing
  page.on('console', (m) => { if (m.type() === 'error' && !/status of (401|403|429)/.test(m.text())) problems.push(m.text()) })
  return { context, page, problems }
}

async function signIn (page: Page, username: string, password: string): Promise<void> {
  await page.locator('#username').fill(username)
  await page.locator('#password').fill(password)
  await page.locator('#sign-in').click()
}

async function shoot (page: Page, name: string): Promise<void> {
  await mkdir(join(ROOT, 'test-results'), { recursive: true })
  await page.screenshot({ path: join(ROOT, 'test-results', `${name}.png`), fullPage: true })
  // the README's pictures are refreshed on request only, so that test runs leave the repository unchanged
  if (process.env.WARDEN_UPDATE_SCREENSHOT === '1') await page.screenshot({ path: join(ROOT, 'docs', `${name}.png`), fullPage: true })
}

/** fills and submits the open dialog */
async function answer (page: Page, fields: Record<string, string>, submit: string): Promise<void> {
  const dialog = page.locator('dialog[open]')
  for (const [name, value] of Object.entries(fields)) await dialog.locator(`[name="${name}"]`).fill(value)
  await dialog.getByRole('button', { name: submit }).click()
  await dialog.waitFor({ state: 'detached' })
}

it('signs an admin in with a cookie, registers a topic for a new account, follows its publishes, revokes it and shows the refusal', async () => {
  const { context, page, problems } = await newPage()
  await page.goto(httpUrl(tb, '/'))
  // not signed in: the sign-in page, not the browser's Basic prompt
  await page.waitForURL(/\/dashboard\/login\.html$/)
  await page.locator('#username').waitFor()
  await shoot(page, 'dashboard-sign-in')
  await signIn(page, 'admin', PASSWORD)
  await page.waitForURL(httpUrl(tb, '/dashboard/'))
  await poll(() => page.locator('#me').textContent()).toBe('admin · admin')

  // the session cookie: HttpOnly (no script reads it), SameSite=Strict, not Secure over plain HTTP, expiring
  const [cookie, ...others] = await context.cookies()
  expect(others).toEqual([])
  expect(cookie).toMatchObject({ name: 'warden_session', httpOnly: true, sameSite: 'Strict', secure: false, path: '/' })
  expect(cookie!.expires * 1000 - Date.now()).toBeGreaterThan(11.9 * 3600_000)
  expect(cookie!.expires * 1000 - Date.now()).toBeLessThanOrEqual(12 * 3600_000)
  expect(await page.evaluate(() => document.cookie)).toBe('')

  // the overview: live rates and the refusals of beforeAll
  await expect.poll(async () => Number(await page.locator('#rate-in').textContent()), { timeout: 15_000 }).toBeGreaterThan(10)
  await poll(() => page.locator('#live').textContent()).toBe('live')
  await poll(() => page.locator('#top-denials td.deny').allTextContents()).toEqual(expect.arrayContaining(['not-owner', 'schema-violation']))
  await expect.poll(() => page.evaluate(() => performance.now()), { timeout: 15_000 }).toBeGreaterThan(5000)
  await shoot(page, 'dashboard')

  // a new account, then a topic registered to it
  await page.locator('#nav a[data-view="accounts"]').click()
  await page.locator('#users').waitFor()
  await page.locator('#create-user').click()
  await answer(page, { username: METER, password: METER_PASSWORD }, 'Create')
  await page.locator(`#users tr[data-username="${METER}"]`).waitFor()
  // deleting an account says first which registrations it owns (its name is taken off them); cancelled here
  await page.locator('#users tr[data-username="sensor-1"] [data-action="delete"]').click()
  const confirm = page.locator('dialog[open]')
  expect(await confirm.locator('ul.owns li').allTextContents()).toEqual(['sensors/sensor-1/#', 'sensors/shared/#', 'private/#', 'sensors/sensor-1/temp'])
  await shoot(page, 'dashboard-delete-account')
  await confirm.getByRole('button', { name: 'Cancel' }).click()
  await confirm.waitFor({ state: 'detached' })
  expect((await get(tb, '/api/v1/users/sensor-1')).status).toBe(200)
  await page.locator('#nav a[data-view="topics"]').click()
  await page.locator('#register-topic').click()
  await answer(page, { filter: METER_TREE, owners: METER }, 'Register')
  await poll(() => page.locator('#notice').textContent()).toContain(`Registered ${METER_TREE} to ${METER}`)
  await page.locator(`#topics tr[data-filter="${METER_TREE}"]`).waitFor()

  // a registration that takes part of a connected owner's tree: done, with a warning naming who loses what
  await page.locator('#register-topic').click()
  await answer(page, { filter: 'sensors/sensor-1/door', owners: `${METER}, nobody-yet` }, 'Register')
  const notice = page.locator('#notice.warn')
  await notice.waitFor()
  expect(await notice.locator('li').allTextContents()).toEqual([
    'no account is called nobody-yet: nobody can publish there under that name until an account of that name is created',
    'sensor-1 owned sensors/sensor-1/door through sensors/sensor-1/# and may no longer publish there (connected now: sensor-1)'
  ])
  await shoot(page, 'dashboard-warning')

  // the new account publishes with the real mosquitto_pub: its fleet row moves
  await page.locator('#nav a[data-view="fleet"]').click()
  const row = page.locator(`#fleet tr[data-username="${METER}"]`)
  await row.waitFor()
  expect(await row.locator('td.messages').textContent()).toBe('0')
  expect(await row.locator('td.seen').textContent()).toBe('never')
  for (let i = 0; i < 3; i++) {
    const r = await mosquittoPub(tb.port, [...AS_METER, '-t', 'plants/plant-1/meter-7/power', '-m', `{"kw":${4 + i}}`])
    expect(r.code).toBe(0)
  }
  await expect.poll(() => row.locator('td.messages').textContent(), { timeout: 10_000 }).toBe('3')
  expect(await row.locator('td.seen').textContent()).toMatch(/^(now|\d+ s ago)$/)
  expect(await row.locator('td.refusal').textContent()).toBe('—')
  await shoot(page, 'dashboard-fleet')

  // its topic's page: owners, recent messages (the config keeps 5; an admin reads everything)
  await page.goto(httpUrl(tb, `/dashboard/#/topic/${encodeURIComponent(METER_TREE)}`))
  await poll(() => page.locator('#topic-owners').textContent()).toBe(METER)
  await poll(() => page.locator('#recent tbody tr').count()).toBe(3)

  // revoked: the owners changed on the topic's page, then the next publish is refused and listed
  await page.locator('[data-action="change-owners"]').click()
  await answer(page, { owners: 'admin' }, 'Save')
  await poll(() => page.locator('#topic-owners').textContent()).toBe('admin')
  await shoot(page, 'dashboard-topic')
  const refused = await mosquittoPub(tb.port, [...AS_METER, '-t', 'plants/plant-1/meter-7/power', '-m', '{"kw":9}'])
  expect(refused.code).toBe(0) // MQTT 3.1.1 has no way to say no to a QoS 1 publish: acknowledged and dropped
  await page.locator('#nav a[data-view="refusals"]').click()
  await page.locator('#filter-username').fill(METER)
  const refusal = page.locator('#denials tbody tr').first()
  await expect.poll(() => refusal.locator('td').allTextContents(), { timeout: 10_000 })
    .toEqual([expect.any(String), 'publish', 'not-owner', METER, `${METER}-pub`, 'plants/plant-1/meter-7/power', expect.any(String)])
  expect(await page.locator('#denials tbody tr').count()).toBe(1)
  await page.locator('#filter-username').fill('')
  await page.locator('#filter-reason').selectOption('schema-violation')
  await poll(() => page.locator('#denials tbody tr td:nth-child(4)').allTextContents()).toEqual(['sensor-1'])
  await page.locator('#filter-reason').selectOption('')
  await page.locator('#filter-topic').fill('plants/+/meter-7/#')
  await poll(() => page.locator('#denials tbody tr').count()).toBe(1)
  expect(await page.locator('#since').textContent()).toMatch(/^Counts and history since .+ \(the broker's start\)/)
  await shoot(page, 'dashboard-refusals')
  await page.goto(httpUrl(tb, '/dashboard/#/fleet'))
  await expect.poll(() => page.locator(`#fleet tr[data-username="${METER}"] td.refusal`).textContent(), { timeout: 10_000 })
    .toMatch(/^not-owner publish plants\/plant-1\/meter-7\/power · /)

  // a connected client kicked from the sessions page
  const victim = await scope.client('sensor-2', { clientId: 'kick-from-dashboard' })
  await page.locator('#nav a[data-view="sessions"]').click()
  await page.locator('#client-list tr[data-client-id="kick-from-dashboard"] [data-action="kick"]').click()
  await page.locator('dialog[open]').getByRole('button', { name: 'Disconnect' }).click()
  await victim.closed()
  await poll(() => page.locator('#notice').textContent()).toContain('Disconnected kick-from-dashboard')
  await shoot(page, 'dashboard-sessions')

  // signing out ends the session on the broker, not only in this browser
  const stale = (await context.cookies())[0]!
  await page.locator('#sign-out').click()
  await page.waitForURL(/\/dashboard\/login\.html/)
  expect(await context.cookies()).toEqual([])
  expect((await get(tb, '/api/v1/status', { as: null, headers: { cookie: `${stale.name}=${stale.value}` } })).status).toBe(401)
  expect(problems).toEqual([])
}, 120_000)

it('shows an observer the same pages without the controls, and the API refuses its changes; credentials in the URL break nothing', async () => {
  const { page, problems } = await newPage()
  // credentials typed into the address bar: the page drops them and asks to sign in
  const port = tb.broker.http.port
  await page.goto(`http://observer:${PASSWORD}@127.0.0.1:${port}/dashboard/#/topics`)
  await page.waitForURL(/\/dashboard\/login\.html/)
  expect(page.url()).not.toContain('@')
  await signIn(page, 'observer', PASSWORD)
  // back where it was sent from
  await page.waitForURL(httpUrl(tb, '/dashboard/#/topics'))
  await page.locator(`#topics tr[data-filter="${METER_TREE}"]`).waitFor()
  // the same data as the API, nothing contradictory
  const api = (await get(tb, '/api/v1/topics')).body.topics.map((t: { filter: string }) => t.filter).sort()
  expect(await page.locator('#topics tr[data-filter]').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.filter))).toEqual(api)
  await shoot(page, 'dashboard-observer')

  for (const view of ['topics', 'accounts', 'roles', 'sessions', 'fleet', 'refusals']) {
    await page.locator(`#nav a[data-view="${view}"]`).click()
    await page.locator('#view table').first().waitFor()
    expect(await page.locator('#view button').count(), view).toBe(0)
  }
  await page.goto(httpUrl(tb, `/dashboard/#/topic/${encodeURIComponent('sensors/sensor-1/#')}`))
  await page.locator('#topic-filter').waitFor()
  expect(await page.locator('#view button').count()).toBe(0)

  // the page's own session and token: still refused, the role decides
  const status = await page.evaluate(async () => {
    const me = await (await fetch('/auth/session')).json() as { csrf: string }
    const res = await fetch('/api/v1/topics', {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrf }, body: JSON.stringify({ filter: 'x/#', owners: ['observer'] })
    })
    return res.status
  })
  expect(status).toBe(403)
  expect((await get(tb, topicPath('x/#'))).status).toBe(404)
  expect(problems).toEqual([])
}, 60_000)

it('throttles wrong passwords on the sign-in page as it throttles MQTT logins', async () => {
  const { page } = await newPage()
  await page.goto(httpUrl(tb, '/dashboard/login.html'))
  const error = page.locator('#login-error')
  for (let i = 0; i < 3; i++) {
    await signIn(page, 'ops', `guess-${i}`)
    // each refusal waits for its turn at verification: seconds on a busy machine
    await expect.poll(() => error.textContent(), { timeout: 10_000 }).toBe('Wrong username or password.')
    await page.evaluate(() => { (document.getElementById('login-error') as HTMLElement).textContent = '' })
  }
  // the right password, now locked out for this (user, address)
  await signIn(page, 'ops', 'ops-password')
  await expect.poll(() => error.textContent(), { timeout: 10_000 })
    .toMatch(/^Too many sign-in attempts: try again in \d+ s\. \(too many failed logins: locked for \d+ s\)$/)
  expect(page.url()).toMatch(/login\.html$/)
  await shoot(page, 'dashboard-throttled')
  const audited = scope.events.filter((e) => e.reason === 'bad-credentials' && e.username === 'ops')
  expect(audited.map((e) => e.detail)).toEqual(Array(3).fill(expect.stringMatching(/^dashboard sign-in: /)))

  // the same thresholds for an MQTT client: three wrong passwords, then the right one is refused too
  for (let i = 0; i < 3; i++) {
    const r = await mosquittoPub(tb.port, ['-u', 'sensor-2', '-P', `guess-${i}`, '-t', 'sensors/sensor-2/x', '-m', '1'])
    expect(r.stderr).toMatch(/not authori[sz]ed|bad user name or password/i)
  }
  const locked = await mosquittoPub(tb.port, ['-u', 'sensor-2', '-P', PASSWORD, '-t', 'sensors/sensor-2/x', '-m', '1'])
  expect(locked.code).not.toBe(0)
  expect(locked.stderr).toMatch(/unavailable/i)
}, 60_000)

it('refuses a post to the API from a page of another origin on the same host, whose browser sends the cookie', async () => {
  const { context, page } = await newPage()
  await page.goto(httpUrl(tb, '/dashboard/login.html'))
  await signIn(page, 'admin', PASSWORD)
  await page.waitForURL(httpUrl(tb, '/dashboard/'))
  // another port of 127.0.0.1: the same site, so SameSite=Strict lets the cookie go; the token is what stops it
  const api = httpUrl(tb, '/api/v1/topics')
  const evil: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' })
    res.end(`<!doctype html><form id="f" method="POST" action="${api}" enctype="text/plain">` +
      '<input name=\'{"filter":"evil/#","owners":["admin"],"x":"\' value=\'"}\'></form>')
  })
  await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve))
  scope.defer(() => new Promise<void>((resolve) => { evil.closeAllConnections(); evil.close(() => resolve()) }))
  const evilPage = await context.newPage()
  await evilPage.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`)
  const [response] = await Promise.all([evilPage.waitForNavigation(), evilPage.locator('#f').evaluate((f) => (f as HTMLFormElement).submit())])
  expect(response?.status()).toBe(403)
  expect(JSON.parse(await evilPage.locator('body').innerText())).toMatchObject({ error: { code: 'WARDEN_ERR_API_CSRF' } })
  // and a script of that page, cookie included (no-cors: it cannot read the answer, nor send the token)
  await evilPage.evaluate(async (url) => {
    const body = '{"filter":"evil2/#","owners":["admin"]}'
    await fetch(url, { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body })
  }, api)
  expect((await get(tb, topicPath('evil/#'))).status).toBe(404)
  expect((await get(tb, topicPath('evil2/#'))).status).toBe(404)
}, 60_000)
