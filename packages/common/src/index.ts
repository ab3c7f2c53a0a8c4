// Public surface of @warden/common: config loading and env overrides, logging, process life, coded errors,
// reconnect back-off, atomic file writes, and the producer's message format.
export { ERROR_CODES, WardenError, isWardenError, type ErrorCode } from './errors.js'
export { readConfigFile, createConfigValidator, formatSchemaErrors, deepFreeze, isRecord, type ConfigValidator } from './config-file.js'
export {
  applyEnvOverrides, envValue, envError, setConfigPath, parsePortEnv, parseIntegerEnv, parseBooleanEnv, type Env, type EnvOverride
} from './env-overrides.js'
export { createLogger, parseLogFormat, logFormatOverride, bootLogFormat, LOG_FORMATS, type Logger, type LoggerOptions, type LogFormat } from './logger.js'
export { runService, fatalLine, type Service, type RunOptions } from './lifecycle.js'
export { createBackoff, type Backoff, type BackoffOptions } from './backoff.js'
export { writeFileAtomic, type AtomicWriteOptions } from './atomic-write.js'
export {
  telemetryTopic, statusTopic, isTelemetryTopic, deviceIdFromTopic, encodeTelemetry, encodeStatus, parseDeviceMessage,
  type TelemetryMessage, type TelemetryReadings, type StatusMessage, type DeviceState, type ParsedDeviceMessage
} from './telemetry-format.js'
