// Public surface of @warden/consumer: the consumer factory and its pure building blocks.
export { createConsumer, type Consumer, type ConsumerDeps, type ConsumerEvents, type ConsumerStats } from './consumer.js'
export { loadConsumerConfig, validateConsumerConfig, type ConsumerConfig, type LoadOptions } from './config.js'
export {
  createSeqTracker, type SeqTracker, type SeqOutcome, type SeqCounters, type SeqTotals, type DeviceSeqState, type DeviceSnapshot
} from './seq-tracker.js'
export { createLatencyHistogram, type LatencyHistogram, type LatencySummary } from './latency-histogram.js'
export { parseMessage, type MessageRecord, type ParsedMessage, type PacketFlags } from './message-record.js'
export { createStatsBook, type StatsBook, type Summary, type ConsumerTotals, type LatencyPercentiles, type SavedStats } from './stats.js'
export { createShareWindow, cumulativeShare, type GroupShare, type ShareWindow } from './group-share.js'
export { createMessageSink, type MessageSink, type SinkOptions, type SinkDeps } from './sink.js'
export { openSession, type Session, type SessionOptions, type SessionHandlers } from './session.js'
export { readSavedStats, writeSummaryFile, type SummaryFileContent } from './summary-file.js'
export { createQos2Inbox, type Qos2Inbox } from './incoming-store.js'
export { takeUnreleasedIds, saveUnreleasedIds } from './qos2-state-file.js'
