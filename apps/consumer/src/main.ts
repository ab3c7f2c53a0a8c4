// Process entry point: load config, run the consumer under pm2-friendly lifecycle handling.
import { createLogger, fatalLine, runService } from '@warden/common'
import { loadConsumerConfig, readLogFormatEnv, type ConsumerConfig } from './config.js'
import { createConsumer } from './consumer.js'

const NAME = 'warden-consumer'

let config: ConsumerConfig | undefined
try {
  config = loadConsumerConfig()
} catch (err) {
  // the level is part of the config, so a config error is reported at the default level
  createLogger({ name: NAME, format: readLogFormatEnv() }).fatal({ err }, (err as Error).message)
  // for a person (or `npm start`) reading the terminal, as runService does: one line on stderr
  process.stderr.write(fatalLine(err))
  process.exitCode = 1
}

if (config !== undefined) {
  const consumerConfig = config
  const logger = createLogger({ name: NAME, level: consumerConfig.logLevel, format: consumerConfig.logFormat })
  await runService({
    logger,
    start: async () => {
      const consumer = createConsumer(consumerConfig, logger)
      try {
        await consumer.ready
      } catch (err) {
        await consumer.close()
        throw err
      }
      return consumer
    }
  })
}
