// Entry point of the producer process: config, logger, fleet, signals. The only file with side effects.
import { createLogger, runService } from '@warden/common'
import { loadProducerConfig, readLogLevelEnv } from './config.js'
import { createFleet } from './fleet.js'

const logger = createLogger({ name: 'producer', level: readLogLevelEnv() })

await runService({
  logger,
  start: async () => {
    const config = loadProducerConfig()
    logger.level = config.logLevel
    return await createFleet(config, logger)
  }
})
