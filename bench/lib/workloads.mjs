// The workloads, as lists of publisher and subscriber clients. The same clients run against every broker;
// Warden authenticates them (scrypt accounts from warden-config.mjs), the others accept them as they are.
import { BENCH_PASSWORD, OWNERSHIP_PUBS } from './warden-config.mjs'

const SHAPES = {
  // many devices, one consumer reading them through a wildcard
  'fan-in': { pubs: 20, subs: 1, wildcard: true },
  // one topic, many readers
  'fan-out': { pubs: 1, subs: 100, wildcard: false },
  // independent publisher → subscriber pairs on their own topics
  pairs: { pubs: 10, subs: 10, wildcard: false },
  // every subscriber reads every publisher (issue 17's 4 × 4 fan-out to persistent sessions)
  fan4: { pubs: 4, subs: 4, wildcard: true }
}

function pub (run, k, topics, clean = true) {
  return {
    clientId: `${run}-p${k}`, username: `pub-${k}`, password: BENCH_PASSWORD, pubIndex: k, clean, ...(topics.length === 1 ? { topic: topics[0] } : { topics })
  }
}

function sub (run, k, filter, qos, from, clean = true) {
  return { clientId: `${run}-s${k}`, username: `sub-${k}`, password: BENCH_PASSWORD, subs: [[filter, qos]], from, clean }
}

const range = (n) => Array.from({ length: n }, (_, i) => i)

/**
 * One throughput workload: shape × QoS × payload; `persistent` subscribers keep a session (clean=false), and with
 * `persistentPublishers` the publishers too (a QoS 2 publisher's packets awaiting PUBREL are then part of its session).
 */
export function throughput (shape, qos, payloadSize, { persistent = false, persistentPublishers = false, mqtt5 = false } = {}) {
  const s = SHAPES[shape]
  const size = payloadSize < 1024 ? payloadSize + 'B' : payloadSize / 1024 + 'KiB'
  const name = `${shape}${persistent ? '-persistent' : ''} q${qos} ${size}${persistentPublishers ? ', persistent publishers' : ''}${mqtt5 ? ' MQTT 5' : ''}`
  const run = `${shape}${persistent ? 'P' : ''}${persistentPublishers ? 'PP' : ''}${qos}${payloadSize}${mqtt5 ? 'v5' : ''}`
  // persistent sessions outlive the workload: their topics must not be reused by later ones (a stored
  // wildcard subscription of one workload would queue the next one's messages)
  const leaf = persistent ? `p-${run}` : '0'
  const pubs = range(s.pubs).map((k) => pub(run, k, [`bench/pub-${k}/data/${leaf}`], !persistentPublishers))
  const subs = range(s.subs).map((k) => {
    if (s.wildcard) return sub(run, k, `bench/+/data/${leaf}`, qos, range(s.pubs), !persistent)
    const p = s.pubs === 1 ? 0 : k
    return sub(run, k, `bench/pub-${p}/data/${leaf}`, qos, [p], !persistent)
  })
  // MQTT 3.1.1 has no receive maximum; Mosquitto disconnects a publisher with more than 20 QoS 2
  // messages awaiting PUBREL (max_inflight_messages), so QoS 2 publishers keep 16 in flight
  return {
    name, shape: shape + (persistent ? '-persistent' : ''), qos, payloadSize, pubs, subs, window: qos === 2 ? 16 : 64, ...(mqtt5 ? { protocolVersion: 5 } : {})
  }
}

/**
 * A consumer group as a work queue: SHARED_PUBS publishers, each message to exactly one of `members`
 * subscribers sharing `$share/workers/bench/+/data/0` (MQTT 5's shared subscription, taken by Warden and
 * Mosquitto from MQTT 3.1.1 clients). Loss and duplicates are counted over the group; the members' shares
 * tell the balance.
 */
export function shared (qos, members = 4) {
  const run = `shared${qos}`
  const pubs = range(SHARED_PUBS).map((k) => pub(run, k, [`bench/pub-${k}/data/0`]))
  const subs = range(members).map((k) => ({ ...sub(run, k, '$share/workers/bench/+/data/0', qos, range(SHARED_PUBS)), group: 'workers' }))
  return { name: `shared q${qos} 64B`, shape: 'shared', qos, payloadSize: 64, pubs, subs, window: qos === 2 ? 16 : 64, sharedSubscriptions: true }
}
const SHARED_PUBS = 10

/** One publisher → one subscriber at a fixed offered rate, timestamps in the payloads. */
export function latency (qos, rate) {
  const run = `lat${qos}r${rate}`
  return {
    name: `latency q${qos} @${rate / 1000}k/s`,
    shape: 'latency',
    qos,
    payloadSize: 64,
    rate,
    window: 1000,
    latency: true,
    pubs: [pub(run, 0, ['bench/pub-0/data/lat'])],
    subs: [sub(run, 0, 'bench/pub-0/data/lat', qos, [0])]
  }
}

/**
 * Ownership scale: the same traffic whatever the number of registrations. OWNERSHIP_PUBS publishers, pub-k
 * publishing under reg/k/ (its registration reg/k/#), each cycling through `topicsPerPub` distinct topics —
 * more than a connection's decision cache holds, so every publish walks the registration trie; the other
 * registrations only make the registry larger. One subscriber reads them all through reg/#.
 */
export function ownership (registrations, topicsPerPub = 2048) {
  const run = `own${registrations}`
  const pubs = range(OWNERSHIP_PUBS).map((k) => pub(run, k, range(topicsPerPub).map((j) => `reg/${k}/m/${j}`)))
  return {
    name: `ownership ${registrations} registrations`,
    shape: 'ownership',
    registrations,
    qos: 1,
    payloadSize: 64,
    window: 64,
    pubs,
    subs: [sub(run, 0, 'reg/#', 1, range(OWNERSHIP_PUBS))]
  }
}

/** Idle connections for the memory workload: anonymous (Warden gives them the 'idle' role), one subscription each. */
export function idleClients (n, perProcess) {
  const groups = []
  for (let g = 0; g * perProcess < n; g++) {
    const clients = range(Math.min(perProcess, n - g * perProcess)).map((i) => {
      const clientId = `idle-${g}-${i}`
      return { clientId, subs: [[`idle/${clientId}`, 1]] }
    })
    // one source address per process: 10k connections from one address would crowd the ephemeral ports
    groups.push({ clients, localAddress: `127.0.0.${10 + g}` })
  }
  return groups
}
