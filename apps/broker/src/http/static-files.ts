// The dashboard's files (apps/broker/dashboard), read once at start and served from memory: a fixed list,
// so no request path ever reaches the file system.
import { readFile } from 'node:fs/promises'
import type { ServerResponse } from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SECURITY_HEADERS } from './respond.js'

// src/http and dist/http are both two levels below apps/broker
const DASHBOARD_DIR = fileURLToPath(new URL('../../dashboard/', import.meta.url))

const TYPES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'chart.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8'
}

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

export interface StaticFiles {
  /** true when `name` was served */
  serve (name: string, res: ServerResponse, head: boolean): boolean
}

export async function loadStaticFiles (dir = DASHBOARD_DIR): Promise<StaticFiles> {
  const files = new Map<string, Buffer>()
  for (const name of Object.keys(TYPES)) {
    try { files.set(name, await readFile(join(dir, name))) } catch { /* a missing file is a 404 */ }
  }
  return {
    serve (name, res, head) {
      const body = files.get(name)
      if (body === undefined) return false
      res.writeHead(200, {
        ...SECURITY_HEADERS,
        'cache-control': 'no-cache',
        'content-type': TYPES[name] as string,
        'content-length': String(body.length),
        'content-security-policy': CSP
      })
      res.end(head ? undefined : body)
      return true
    }
  }
}
