// For tests that hold one of the broker's store writes (a preloaded test module: hold-batch.mjs, hold-keys.mjs,
// hold-redis-batch.mjs, hold-redis-mark.mjs) and SIGKILL the broker meanwhile.
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import type { Packet } from 'mqtt-packet'
import type { BrokerProcess } from './broker-process.js'
import { rawSession, type RawClient } from './raw-mqtt.js'
import type { Scope } from './scope.js'

/** the environment that preloads `module` (a file of test/helpers) into a broker process, with its settings */
export function holding (module: string, settings: Record<string, string>): Record<string, string> {
  const path = fileURLToPath(new URL(`./${module}`, import.meta.url))
  return { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${path}`, ...settings }
}

/**
 * Waits for the held write, then shows the broker kept running meanwhile: another client's CONNECT and ten
 * PINGREQs answered (a packet it would send without waiting for the write goes out within those turns).
 */
export async function heldWhileRunning (scope: Scope, node: BrokerProcess): Promise<void> {
  await node.app.waitForLog((l) => l.msg === 'test: store batch held')
  const probe = scope.track(await rawSession(node.port, 'sensor-2', 'probe'))
  for (let i = 0; i < 10; i++) {
    probe.send({ cmd: 'pingreq' } as Packet)
    await probe.next('pingresp')
    probe.packets.length = 0
  }
  probe.destroy()
}

/** sensor-2 publishes `topic` at QoS 2 (a marker: queued behind everything before it) and completes the handshake */
export async function sendMarker (scope: Scope, node: BrokerProcess, topic: string): Promise<void> {
  const s = scope.track(await rawSession(node.port, 'sensor-2', 'marker'))
  s.send({ cmd: 'publish', topic, payload: Buffer.from('marker'), qos: 2, messageId: 1, retain: false, dup: false } as Packet)
  await s.next('pubrec')
  s.send({ cmd: 'pubrel', messageId: 1 } as Packet)
  await s.next('pubcomp')
  s.destroy()
}

/**
 * A client doing its part of QoS 2 (PUBREC for a PUBLISH, PUBCOMP for a PUBREL) until `until` arrives;
 * returns every packet it got.
 */
export async function converse (c: RawClient, until: (p: Packet) => boolean): Promise<Packet[]> {
  let i = 0
  for (;;) {
    while (i < c.packets.length) {
      const p = c.packets[i++] as Packet & { messageId?: number, qos?: number }
      if (p.cmd === 'publish' && p.qos === 2) c.send({ cmd: 'pubrec', messageId: p.messageId } as Packet)
      if (p.cmd === 'pubrel') c.send({ cmd: 'pubcomp', messageId: p.messageId } as Packet)
      if (until(p)) return c.packets.slice()
    }
    await Promise.race([once(c.socket, 'data'), c.closed().then(() => { throw new Error('closed') })])
  }
}
