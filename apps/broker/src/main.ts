// The broker process: reads the config, starts the broker, and lives by pm2's rules.
import { createLogger, runService } from '@warden/common'
import { loadConfig, readBootLogFormat } from './config/load-config.js'
import { createWardenBroker } from './broker/create-broker.js'

const bootLogger = createLogger({ name: 'warden-broker', format: readBootLogFormat() })

// diagnostics over the IPC channel (soak tests, pm2): { cmd: 'memory' } is answered with process.memoryUsage(),
// measured after a full GC when the process runs with --expose-gc
process.on('message', (msg) => {
  if (typeof msg !== 'object' || msg === null || (msg as { cmd?: unknown }).cmd !== 'memory') return
  ;(globalThis as { gc?: () => void }).gc?.()
  process.send?.({ type: 'memory', ...process.memoryUsage() })
})

await runService({
  logger: bootLogger,
  shutdownTimeoutMs: 8000,
  async start () {
    const config = loadConfig()
    const logger = createLogger({ name: 'warden-broker', level: config.log.level, format: config.log.format })
    return await createWardenBroker(config, { logger })
  }
})
