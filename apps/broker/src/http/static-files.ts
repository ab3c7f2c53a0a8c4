// The dashboard's files (apps/broker/dashboard), read once at start and served from memory: a fixed list,
// so no request path ever reaches the file system.
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SECURITY_HEADERS } from './respond.js'

// src/http and dist/http are both two levels below apps/broker
const DASHBOARD_DIR = fileURLToPath(new URL('../../dashboard/', import.meta.url))

const HTML = 'text/html; charset=utf-8'
const JS = 'text/javascript; charset=utf-8'
const TYPES: Readonly<Record<string, string>> = {
  'index.html': HTML,
  'login.html': HTML,
  'app.js': JS,
  'api.js': JS,
  'ui.js': JS,
  'chart.js': JS,
  'login.js': JS,
  'views-live.js': JS,
  'views-registry.js': JS,
  'views-sessions.js': JS,
  'style.css': 'text/css; charset=utf-8'
}

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

export interface StaticFiles {
  /** true when `name` was served (a 304 when the request's If-None-Match names this version) */
  serve (name: string, req: IncomingMessage, res: ServerResponse, head: boolean): boolean
}

export async function loadStaticFiles (dir = DASHBOARD_DIR): Promise<StaticFiles> {
  const files = new Map<string, { body: Buffer, etag: string }>()
  for (const name of Object.keys(TYPES)) {
    try {
      const body = await readFile(join(dir, name))
      files.set(name, { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` })
    } catch { /* a missing file is a 404 */ }
  }
  return {
    serve (name, req, res, head) {
      const file = files.get(name)
      if (file === undefined) return false
      const { body, etag } = file
      // revalidated on every load (no-cache) and answered 304 when unchanged: a new version is seen at once
      if (req.headers['if-none-match'] === etag) {
        res.writeHead(304, { ...SECURITY_HEADERS, 'cache-control': 'no-cache', etag })
        res.end()
        return true
      }
      res.writeHead(200, {
        ...SECURITY_HEADERS,
        'cache-control': 'no-cache',
        etag,
        'content-type': TYPES[name] as string,
        'content-length': String(body.length),
        'content-security-policy': CSP
      })
      res.end(head ? undefined : body)
      return true
    }
  }
}
