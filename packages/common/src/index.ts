// Public surface of @warden/common: config loading, logging, process life, coded errors.
export { ERROR_CODES, WardenError, isWardenError, type ErrorCode } from './errors.js'
export { readConfigFile, createConfigValidator, formatSchemaErrors, deepFreeze, parsePortEnv, type ConfigValidator } from './config-file.js'
export { createLogger, type Logger, type LoggerOptions } from './logger.js'
export { runService, type Service, type RunOptions } from './lifecycle.js'
