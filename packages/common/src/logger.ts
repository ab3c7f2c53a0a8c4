// Structured logs, one object per line, quiet by default: JSON for machines, or readable lines
// (WARDEN_LOG_FORMAT=pretty) for a person reading `pm2 logs`.
import { pino, type Logger, type LoggerOptions as PinoOptions } from 'pino'
// pino-pretty is a runtime dependency of this package, not a dev tool: the apps format their own lines when
// asked (under pm2 there is no terminal to pipe into `pino-pretty`), as a stream in this thread so that lines
// keep their order with stderr and are written before the process exits
import pretty from 'pino-pretty'
import { envError, envValue, setConfigPath, type Env, type EnvOverride } from './env-overrides.js'

export type { Logger }

export const LOG_FORMATS = ['json', 'pretty'] as const
export type LogFormat = typeof LOG_FORMATS[number]

export interface LoggerOptions {
  name: string
  level?: string
  format?: LogFormat
}

export function createLogger ({ name, level = 'info', format = 'json' }: LoggerOptions): Logger {
  const options: PinoOptions = {
    name,
    level,
    base: { pid: process.pid, name },
    // never log secrets even if an object carrying them is passed by mistake
    redact: { paths: ['password', '*.password', 'passwordHash', '*.passwordHash'], censor: '[redacted]' }
  }
  if (format === 'json') return pino(options)
  // `[2026-05-01T12:00:00.000Z] INFO (warden-broker/4242): client connected {"clientId":"…"}`: one line each, ISO times (UTC)
  return pino(options, pretty({ translateTime: "UTC:yyyy-mm-dd'T'HH:MM:ss.l'Z'", singleLine: true, sync: true }))
}

/** A WARDEN_LOG_FORMAT value; anything else is a start-up error naming the variable. */
export function parseLogFormat (name: string, value: string): LogFormat {
  const format = LOG_FORMATS.find((f) => f === value)
  if (format === undefined) throw envError(name, `one of ${LOG_FORMATS.join(', ')}`, value)
  return format
}

/** WARDEN_LOG_FORMAT as an override of the config key at `path` (checked like the other overrides). */
export function logFormatOverride (path: string): EnvOverride {
  return { name: 'WARDEN_LOG_FORMAT', apply: (v, d) => { setConfigPath(d, path, parseLogFormat('WARDEN_LOG_FORMAT', v)) } }
}

/** The format for the lines written before the config is read; a bad value is reported by the config's loading. */
export function bootLogFormat (env: Env): LogFormat {
  return envValue(env, 'WARDEN_LOG_FORMAT') === 'pretty' ? 'pretty' : 'json'
}
