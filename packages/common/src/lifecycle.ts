// Process life for pm2: readiness signal, graceful shutdown on signals, non-zero exit on fatal errors.
import type { Logger } from 'pino'

export interface Service {
  close (): Promise<void>
}

export interface RunOptions {
  logger: Logger
  start: () => Promise<Service>
  /** Hard limit for close(); keep it below pm2's kill_timeout. */
  shutdownTimeoutMs?: number
}

export async function runService ({ logger, start, shutdownTimeoutMs = 8000 }: RunOptions): Promise<void> {
  let service: Service
  try {
    service = await start()
  } catch (err) {
    logger.fatal({ err }, (err as Error).message)
    logger.flush?.()
    // for a person (or `npm start`) reading the terminal: one line, no stack, no JSON
    process.stderr.write(fatalLine(err))
    process.exitCode = 1
    setImmediate(() => process.exit(1))
    return
  }
  // pm2's wait_ready listens for this; harmless when not under pm2
  if (process.send !== undefined) process.send('ready')

  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) return
    stopping = true
    logger.info({ signal }, 'shutting down')
    const timer = setTimeout(() => {
      logger.error({ code: 'WARDEN_ERR_SHUTDOWN_TIMEOUT' }, 'graceful shutdown timed out')
      process.exit(1)
    }, shutdownTimeoutMs)
    timer.unref()
    service.close().then(() => {
      logger.info('stopped')
      process.exit(0)
    }, (err: unknown) => {
      logger.error({ err }, 'error during shutdown')
      process.exit(1)
    })
  }
  process.on('SIGINT', () => stop('SIGINT'))
  process.on('SIGTERM', () => stop('SIGTERM'))
  // pm2 on some platforms sends a 'shutdown' message instead of a signal
  process.on('message', (msg) => { if (msg === 'shutdown') stop('shutdown') })
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception')
    process.stderr.write(fatalLine(err))
    process.exit(1)
  })
  process.on('unhandledRejection', (err) => {
    logger.fatal({ err }, 'unhandled rejection')
    process.stderr.write(fatalLine(err))
    process.exit(1)
  })
}

/** `warden: <message>` on one line: a coded error's message names the key or file to fix */
export function fatalLine (err: unknown): string {
  const message = err instanceof Error ? err.message : String(err)
  return `warden: ${message.replace(/\s*\n\s*/g, ' ').trim()}\n`
}
