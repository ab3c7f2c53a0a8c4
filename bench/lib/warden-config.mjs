// The Warden configuration the benchmark runs: what a real deployment would use — scrypt accounts,
// ownership registrations (deny unregistered topics) and read grants narrower than '#', so every
// delivered message goes through the per-message read check.

export const BENCH_PASSWORD = 'bench-secret'
/** Load clients: pub-0 … pub-(n-1) own bench/pub-<k>/#; sub-0 … read bench/+/data/# and reg/#. */
export const USERS = { pubs: 200, subs: 200 }
/** Publishers of the ownership-scale workload: pub-k owns reg/<i>/# for every i ≡ k (mod OWNERSHIP_PUBS). */
export const OWNERSHIP_PUBS = 10

/**
 * @param {object} o
 * @param {string} o.passwordHash  one low-cost scrypt hash shared by every bench account
 * @param {number} o.registrations literal registrations reg/<i>/#, besides the bench/{username}/# template
 * @param {'memory'|'level'|'redis'} o.persistence
 * @param {string} o.dataDir
 * @param {string} [o.redisUrl] the store and bus of cluster mode (persistence 'redis')
 * @param {number} [o.statsIntervalMs] the control plane's sampling interval (default: Warden's own)
 */
export function wardenConfig ({ passwordHash, registrations, persistence, dataDir, redisUrl, statsIntervalMs }) {
  const users = []
  for (let i = 0; i < USERS.pubs; i++) users.push({ username: `pub-${i}`, passwordHash, roles: ['producer'] })
  for (let i = 0; i < USERS.subs; i++) users.push({ username: `sub-${i}`, passwordHash, roles: ['consumer'] })
  const topics = [{ filter: 'bench/{username}/#', owners: ['{username}'] }]
  for (let i = 0; i < registrations; i++) topics.push({ filter: `reg/${i}/#`, owners: [`pub-${i % OWNERSHIP_PUBS}`] })
  return {
    mqtt: { port: 0, host: '127.0.0.1' },
    http: { port: 0, host: '127.0.0.1' },
    dataDir,
    persistence,
    ...(redisUrl !== undefined ? { redis: { url: redisUrl } } : {}),
    // idle-connection workload: anonymous clients with a role, so 10k CONNECTs do not each pay for scrypt
    anonymous: 'idle',
    unregisteredTopics: 'deny',
    deniedPublish: 'drop',
    roles: {
      producer: { subscribe: ['bench/{username}/cmd/#'] },
      consumer: { subscribe: ['bench/+/data/#', 'reg/#'] },
      idle: { subscribe: ['idle/{clientid}'] }
    },
    users,
    topics,
    log: { level: 'warn' },
    ...(statsIntervalMs !== undefined ? { stats: { intervalMs: statsIntervalMs } } : {}),
    // the limits stay on (their checks are paid per message) but sized above what the bench offers: a
    // deployment sets them for its devices, and a broker throttling the load generator measures nothing
    limits: {
      publishRate: { perSecond: 1e7, burst: 1e7, onExcess: 'delay' },
      connectionRate: { perSecond: 1e6, burst: 1e6 }
    }
  }
}
