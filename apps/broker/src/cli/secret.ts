// Reads a secret: one line from standard input, or typed at a terminal without echo.
import { createInterface } from 'node:readline'

export interface SecretIo {
  readonly stdin: NodeJS.ReadStream
  readonly stderr: { write (s: string): unknown }
}

let piped: AsyncIterator<string> | undefined

/** Lines of a piped stdin are handed out one per call (admin password first, then a new user's). */
async function nextLine (stdin: NodeJS.ReadStream): Promise<string | undefined> {
  piped ??= createInterface({ input: stdin, terminal: false })[Symbol.asyncIterator]()
  const r = await piped.next()
  return r.done === true ? undefined : r.value
}

export async function readSecret (io: SecretIo, prompt: string): Promise<string | undefined> {
  if (io.stdin.isTTY !== true) return await nextLine(io.stdin)
  io.stderr.write(prompt)
  return await new Promise((resolve) => {
    const chars: string[] = []
    io.stdin.setRawMode(true)
    io.stdin.resume()
    const onData = (buf: Buffer): void => {
      for (const ch of buf.toString('utf8')) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return done(chars.join(''))
        if (ch === '\u0003') return done(undefined)
        if (ch === '\u007f' || ch === '\b') chars.pop()
        else chars.push(ch)
      }
    }
    const done = (value: string | undefined): void => {
      io.stdin.off('data', onData)
      io.stdin.setRawMode(false)
      io.stdin.pause()
      io.stderr.write('\n')
      resolve(value)
    }
    io.stdin.on('data', onData)
  })
}

/** Closes the piped reader so that the process can exit. */
export function closeSecrets (): void {
  void piped?.return?.()
  piped = undefined
}
