// A real server-sent events client (node fetch, read as it streams) for /api/v1/events.
import { basic } from './http.js'

export interface SseEvent { readonly event: string, readonly data: any }

export interface SseStream {
  readonly status: number
  /** the response's Content-Type */
  readonly contentType: string | null
  /** every event received so far, in order */
  readonly events: SseEvent[]
  /** the first event from index `from` on satisfying `pred` (received or to come); rejects if the stream ends first */
  next (pred: (e: SseEvent) => boolean, from?: number): Promise<SseEvent>
  /** resolves when the broker ends the stream */
  readonly ended: Promise<void>
  close (): Promise<void>
}

/** opens `url` (a broker's /api/v1/events) with HTTP Basic credentials, or with `headers` (a cookie) */
export async function openEvents (url: string, as: { username?: string, password?: string, headers?: Record<string, string> }): Promise<SseStream> {
  const abort = new AbortController()
  const headers: Record<string, string> = { ...as.headers }
  if (as.username !== undefined) headers.authorization = basic(as.username, as.password)
  const res = await fetch(url, { headers, signal: abort.signal })
  const events: SseEvent[] = []
  const waiters = new Set<() => void>()
  let done = false
  let buf = ''
  const wake = (): void => { for (const w of [...waiters]) w() }
  const ended = (async () => {
    if (res.body === null || !res.ok) { await res.text().catch(() => {}); return }
    const reader = res.body.getReader()
    try {
      for (;;) {
        const { value, done: end } = await reader.read()
        if (end === true) return
        buf += Buffer.from(value).toString()
        let i: number
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i)
          buf = buf.slice(i + 2)
          const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message'
          const data = /^data: (.*)$/m.exec(block)?.[1]
          events.push({ event, data: data === undefined ? undefined : JSON.parse(data) })
        }
        wake()
      }
    } catch {
      // aborted by close()
    }
  })().finally(() => { done = true; wake() })
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    events,
    ended,
    next (pred, from = 0) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const found = events.slice(from).find(pred)
          if (found !== undefined) { waiters.delete(check); resolve(found); return }
          if (done) { waiters.delete(check); reject(new Error(`event stream ended; received: ${events.map((e) => e.event).join(', ')}`)) }
        }
        waiters.add(check)
        check()
      })
    },
    async close () {
      abort.abort()
      await ended
    }
  }
}
