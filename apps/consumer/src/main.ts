// Process entry point: load config, run the consumer under pm2-friendly lifecycle handling.
import { createLogger, runService } from '@warden/common'
import { loadConsumerConfig, type ConsumerConfig } from './config.js'
import { createConsumer } from './consumer.js'

const NAME = 'warden-consumer'

let config: ConsumerConfig | undefined
try {
  config = loadConsumerConfig()
} catch (err) {
  // the level is part of the config, so a config error is reported at the default level
  createLogger({ name: NAME }).fatal({ err }, (err as Error).message)
  process.exitCode = 1
}

if (config !== undefined) {
  const consumerConfig = config
  const logger = createLogger({ name: NAME, level: consumerConfig.logLevel })
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
