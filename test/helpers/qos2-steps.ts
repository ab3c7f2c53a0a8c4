// One QoS 2 message through the broker with a raw publisher and a raw subscriber stepping in turn, for the tests
// that count what each message costs the store (store-qos2-path, store-redis-qos2-path).
import type { Packet } from 'mqtt-packet'
import { expect } from 'vitest'
import type { RawClient } from './raw-mqtt.js'

/** waits for the next packet of `cmd` and forgets it (the raw client keeps every packet it got) */
export async function take (c: RawClient, cmd: string): Promise<Packet> {
  const p = await c.next(cmd)
  c.packets.splice(c.packets.indexOf(p), 1)
  return p
}

/** one QoS 2 message on `topic`; resolves once the broker has seen the last PUBCOMP */
export async function oneQos2Message (device: RawClient, reader: RawClient, topic: string, n: number): Promise<void> {
  const messageId = (n % 60000) + 1
  device.send({ cmd: 'publish', topic, payload: Buffer.from(`m${n}`), qos: 2, messageId, retain: false, dup: false } as Packet)
  await take(device, 'pubrec')
  const delivered = await take(reader, 'publish') as Packet & { messageId: number, payload: Buffer }
  expect(delivered.payload.toString()).toBe(`m${n}`)
  reader.send({ cmd: 'pubrec', messageId: delivered.messageId } as Packet)
  await take(reader, 'pubrel')
  device.send({ cmd: 'pubrel', messageId } as Packet)
  await take(device, 'pubcomp')
  reader.send({ cmd: 'pubcomp', messageId: delivered.messageId } as Packet)
  // the broker handles a connection's packets in order: the PINGRESP comes after the PUBCOMP was handled
  reader.send({ cmd: 'pingreq' } as Packet)
  await take(reader, 'pingresp')
}
