// Free loopback ports for processes that must be told their port up front (pm2 apps, redis-server).
//
// A port found free is not held: between finding it and the child binding it, the kernel may give it to anyone
// binding port 0 (every in-process broker of the other test files) or connecting out, and another test file's
// freePort may find it too (seen once in a full run: `npm start` refused, its HTTP port in use). So the port is
// taken below the kernel's ephemeral range, which the kernel never hands out by itself, at random, and claimed
// with a file that other test processes see; a claim is taken over only once it is an hour old.
import { openSync, closeSync, mkdirSync, readFileSync, statSync, utimesSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const CLAIMS = join(tmpdir(), 'warden-test-ports')
const CLAIM_MS = 60 * 60_000

/** the ports below the kernel's ephemeral range (`ip_local_port_range`), or none if it cannot be read */
function quietRange (): [number, number] | undefined {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0])
    if (!Number.isInteger(low) || low - 1 < 10_000) return undefined
    return [Math.max(10_000, low - 12_000), low - 1]
  } catch { return undefined }
}

/** true if this process now holds the claim on `port` */
function claim (port: number): boolean {
  const file = join(CLAIMS, String(port))
  try {
    closeSync(openSync(file, 'wx'))
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    if (Date.now() - statSync(file).mtimeMs < CLAIM_MS) return false
    const now = new Date()
    utimesSync(file, now, now)
    return true
  }
}

/** whether nothing listens on `port` (any address) right now */
async function bindable (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const srv = createServer()
    srv.once('error', () => { resolve(false) })
    srv.listen(port, '0.0.0.0', () => { srv.close(() => { resolve(true) }) })
  })
}

async function kernelPort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => { resolve(port) })
    })
  })
}

export async function freePort (): Promise<number> {
  const range = quietRange()
  if (range !== undefined) {
    mkdirSync(CLAIMS, { recursive: true })
    for (let tries = 0; tries < 200; tries++) {
      const port = range[0] + Math.floor(Math.random() * (range[1] - range[0] + 1))
      if (claim(port) && await bindable(port)) return port
    }
  }
  return await kernelPort()
}

/** Polls `check` until it returns a value, for state only visible in files or other processes. */
export async function waitUntil<T> (check: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await check()
      if (v !== undefined) return v
    } catch (err) { last = err }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last !== undefined ? `: ${String(last)}` : ''}`)
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}
