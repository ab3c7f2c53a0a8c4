// Entry point of the producer process: config, logger, fleet, signals. The only file with side effects.
import { createLogger, fatalLine, runService } from '@warden/common'
import { loadProducerConfig, readLogFormatEnv, readLogLevelEnv, type ProducerConfig } from './config.js'
import { createFleet } from './fleet.js'

const NAME = 'producer'

let config: ProducerConfig | undefined
try {
  config = loadProducerConfig()
} catch (err) {
  // the logger's level and format are part of the config: a config error is logged as the environment says
  createLogger({ name: NAME, level: readLogLevelEnv(), format: readLogFormatEnv() }).fatal({ err }, (err as Error).message)
  process.stderr.write(fatalLine(err))
  process.exitCode = 1
}

if (config !== undefined) {
  const producerConfig = config
  const logger = createLogger({ name: NAME, level: producerConfig.logLevel, format: producerConfig.logFormat })
  await runService({ logger, start: async () => await createFleet(producerConfig, logger) })
}
