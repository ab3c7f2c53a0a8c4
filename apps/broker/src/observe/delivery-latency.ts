// Delivery latency: from a client's PUBLISH accepted by the ownership check (the rules stage) to the moment
// aedes has handed it to the subscribers on this process — stored first at QoS 1 — which is aedes's
// 'publish' event, fired with the same packet object. A QoS 2 message is published at its PUBREL from a
// packet read back from the store, so it is not measured; nor are messages from other cluster workers.
//
// Sampled: one accepted publish in SAMPLE_EVERY is stamped (a WeakMap write), so the message path pays
// little; the buckets are a plain array, read by prom-client only at scrape time (metrics.ts).

/** upper bounds in seconds, Prometheus `le` */
export const LATENCY_BUCKETS: readonly number[] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/** a power of two: the sample test is a mask */
export const SAMPLE_EVERY = 8

export class DeliveryLatency {
  /** per bucket, not cumulative; the last one is +Inf */
  readonly counts = new Array<number>(LATENCY_BUCKETS.length + 1).fill(0)
  sum = 0
  count = 0
  private seen = 0
  private readonly stamps = new WeakMap<object, number>()

  /** the rules stage accepted `packet` */
  accepted (packet: object): void {
    if ((++this.seen & (SAMPLE_EVERY - 1)) !== 0) return
    this.stamps.set(packet, performance.now())
  }

  /** aedes's 'publish' event: `packet` reached this process's subscribers */
  published (packet: object): void {
    const at = this.stamps.get(packet)
    if (at === undefined) return
    this.stamps.delete(packet)
    const s = (performance.now() - at) / 1000
    let i = 0
    while (i < LATENCY_BUCKETS.length && s > LATENCY_BUCKETS[i]!) i++
    this.counts[i]!++
    this.sum += s
    this.count++
  }
}
