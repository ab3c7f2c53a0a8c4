// Public surface of @warden/producer: the fleet simulator and its building blocks (the message format and the
// back-off live in @warden/common).
export {
  loadProducerConfig, resolveProducerConfig, readLogLevelEnv, DEFAULT_CONFIG_PATH, type ProducerConfig, type DeviceCredentials, type Env
} from './config.js'
export { configSchema, type ProducerConfigFile } from './config-schema.js'
export { createFleet, SEQ_STATE_FILE, type Fleet, type FleetOptions, type FleetStats } from './fleet.js'
export { createDevice, type Device, type DeviceOptions, type DeviceStats } from './device.js'
export { openSeqStore, readSeqState, writeSeqState, type SeqStore, type SeqStoreOptions, type SeqState } from './seq-store.js'
export { createReadingGenerator, createRandom, seedFromString, type Readings, type ReadingGenerator, type ReadingOptions } from './telemetry.js'
export { createPacer, MIN_TICK_MS, type Pacer } from './pacer.js'
