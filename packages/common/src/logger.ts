// Structured JSON logs, one object per line, quiet by default.
import { pino, type Logger } from 'pino'

export type { Logger }

export interface LoggerOptions {
  name: string
  level?: string
}

export function createLogger ({ name, level = 'info' }: LoggerOptions): Logger {
  return pino({
    name,
    level,
    base: { pid: process.pid, name },
    // never log secrets even if an object carrying them is passed by mistake
    redact: { paths: ['password', '*.password', 'passwordHash', '*.passwordHash'], censor: '[redacted]' }
  })
}
