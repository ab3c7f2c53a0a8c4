// pm2 ecosystem (CommonJS, as pm2 loads it): Warden's three processes. `npm start` builds and starts them; `npm stop` removes them.
// Ports and directories can be moved with environment variables (WARDEN_MQTT_PORT, WARDEN_HTTP_PORT,
// WARDEN_DATA_ROOT, WARDEN_LOG_ROOT; pm2's own PM2_HOME), so several copies (tests) can run at once.
const env = process.env
const mqttPort = env.WARDEN_MQTT_PORT ?? '1883'
const httpPort = env.WARDEN_HTTP_PORT ?? '8080'
const dataRoot = env.WARDEN_DATA_ROOT ?? './data'
const logRoot = env.WARDEN_LOG_ROOT ?? './logs'
const mqttUrl = `mqtt://127.0.0.1:${mqttPort}`
// cluster mode: WARDEN_INSTANCES=N runs N broker workers (pm2 cluster mode, one shared port) on Redis
const instances = Number(env.WARDEN_INSTANCES ?? '1')
if (!Number.isInteger(instances) || instances < 1) throw new Error(`WARDEN_INSTANCES: must be a positive integer, got ${env.WARDEN_INSTANCES}`)
const cluster = instances > 1 || env.WARDEN_PERSISTENCE === 'redis'
// consumer group: WARDEN_CONSUMER_GROUP=<name> makes each consumer a member of $share/<name>/…, and
// WARDEN_CONSUMER_INSTANCES=N runs N of them (`npx pm2 scale consumer N` changes it while running)
const consumerInstances = Number(env.WARDEN_CONSUMER_INSTANCES ?? '1')
if (!Number.isInteger(consumerInstances) || consumerInstances < 1) {
  throw new Error(`WARDEN_CONSUMER_INSTANCES: must be a positive integer, got ${env.WARDEN_CONSUMER_INSTANCES}`)
}
// the consumer's summary and QoS 2 state files move with the roots only when a root is given: otherwise the
// paths in its config file stand (an edit there is not silently overridden)
const consumerFiles = {
  ...(env.WARDEN_LOG_ROOT !== undefined && env.WARDEN_LOG_ROOT !== '' ? { WARDEN_CONSUMER_SUMMARY_FILE: `${logRoot}/consumer-summary.json` } : {}),
  ...(env.WARDEN_DATA_ROOT !== undefined && env.WARDEN_DATA_ROOT !== '' ? { WARDEN_CONSUMER_STATE_FILE: `${dataRoot}/consumer/qos2-state.json` } : {})
}
const consumerGroup = env.WARDEN_CONSUMER_GROUP !== undefined && env.WARDEN_CONSUMER_GROUP !== '' ? { WARDEN_CONSUMER_GROUP: env.WARDEN_CONSUMER_GROUP } : {}
const clusterEnv = cluster
  ? { WARDEN_PERSISTENCE: 'redis', WARDEN_REDIS_URL: env.WARDEN_REDIS_URL ?? 'redis://127.0.0.1:6379' }
  : {}

// V8's young generation held at its full 16 MiB: at a steady rate Warden allocates ~17 KiB per message, and
// after a quiet spell V8 shrinks the young generation to 1 MiB and regrows it only slowly — ten scavenges a
// second at 1k msg/s instead of one or two. Each is a millisecond-long burst in which the broker reads nothing,
// and on a shared machine the one that is preempted holds every message behind it for tens of ms. A busy broker
// reaches 16 MiB anyway, so the resident memory is the same (BENCHMARKS.md, "Latency at 1k msg/s: the tail").
// bench/run.mjs runs its Warden brokers with these flags too.
const brokerNodeArgs = ['--min-semi-space-size=16']

// a process that keeps crashing is restarted with a growing delay, and given up on after 15 tries
const restartPolicy = {
  autorestart: true,
  max_restarts: 15,
  min_uptime: '10s',
  exp_backoff_restart_delay: 200
}

module.exports = {
  apps: [
    {
      name: 'broker',
      script: 'apps/broker/dist/main.js',
      cwd: __dirname,
      node_args: brokerNodeArgs,
      exec_mode: cluster ? 'cluster' : 'fork',
      instances,
      // pm2 counts it online once it has said process.send('ready'), i.e. once it listens
      wait_ready: true,
      listen_timeout: 15000,
      // graceful shutdown closes listeners, clients (wills) and the store within 8 s
      kill_timeout: 10000,
      ...restartPolicy,
      env: {
        WARDEN_CONFIG: env.WARDEN_CONFIG ?? 'config/warden.yaml',
        WARDEN_MQTT_PORT: mqttPort,
        WARDEN_HTTP_PORT: httpPort,
        WARDEN_DATA_DIR: `${dataRoot}/broker`,
        ...clusterEnv
      }
    },
    {
      name: 'producer',
      script: 'apps/producer/dist/main.js',
      cwd: __dirname,
      wait_ready: true,
      listen_timeout: 15000,
      kill_timeout: 8000,
      ...restartPolicy,
      env: {
        WARDEN_CONFIG: env.WARDEN_PRODUCER_CONFIG ?? 'config/producer.yaml',
        WARDEN_MQTT_URL: mqttUrl,
        WARDEN_DATA_DIR: `${dataRoot}/producer`
      }
    },
    {
      name: 'consumer',
      script: 'apps/consumer/dist/main.js',
      cwd: __dirname,
      // fork mode: each instance is its own MQTT client listening on nothing, so pm2's cluster mode (its
      // default with several instances) would only add a primary in between (pm2 numbers them in NODE_APP_INSTANCE)
      exec_mode: 'fork',
      instances: consumerInstances,
      wait_ready: true,
      listen_timeout: 15000,
      kill_timeout: 8000,
      ...restartPolicy,
      env: {
        WARDEN_CONFIG: env.WARDEN_CONSUMER_CONFIG ?? 'config/consumer.yaml',
        WARDEN_MQTT_URL: mqttUrl,
        WARDEN_CONSUMER_OUT: `${logRoot}/consumer-messages.log`,
        ...consumerFiles,
        ...consumerGroup
      }
    }
  ]
}
