// The broker process: reads the config, starts the broker, and lives by pm2's rules.
import { createLogger, runService } from '@warden/common'
import { loadConfig } from './config/load-config.js'
import { createWardenBroker } from './broker/create-broker.js'

const bootLogger = createLogger({ name: 'warden-broker' })

await runService({
  logger: bootLogger,
  shutdownTimeoutMs: 8000,
  async start () {
    const config = loadConfig()
    const logger = createLogger({ name: 'warden-broker', level: config.log.level })
    return await createWardenBroker(config, { logger })
  }
})
