// One listener in front of aedes on each client's parser, for the patches that act on what an MQTT 5 client
// sends (connection-patches.ts lists them). It leaves the parser of a 3.1.1 client at its CONNECT: such a
// connection carries none of them, and its packets go straight to aedes.
import type { Client } from 'aedes'
import type mqttPacket from 'mqtt-packet'
import { clientOfParser, parserOf } from './accessors.js'
import type { MqttParser } from './internals.js'

export interface V5Watch {
  /** the CONNECT of an MQTT 5 client, before aedes handles it */
  readonly connect?: (client: Client, packet: mqttPacket.IConnectPacket) => void
  /** each later packet of an MQTT 5 client, before aedes handles it */
  readonly packet?: (client: Client, packet: mqttPacket.Packet) => void
}

type Listener = (packet: mqttPacket.Packet) => void
type Parser = MqttParser & {
  prependListener (event: 'packet', l: Listener): void
  removeListener (event: 'packet', l: Listener): void
}

/** Once per broker: the installer of the one listener, shared by every client's parser. */
export function watchV5Packets (watches: readonly V5Watch[]): (client: Client) => void {
  const onConnect = watches.flatMap((w) => w.connect !== undefined ? [w.connect] : [])
  const onPacket = watches.flatMap((w) => w.packet !== undefined ? [w.packet] : [])
  function listener (this: Parser, packet: mqttPacket.Packet): void {
    const client = clientOfParser(this)
    if (packet.cmd === 'connect') {
      if (packet.protocolVersion !== 5) { this.removeListener('packet', listener); return }
      for (const f of onConnect) f(client, packet)
      return
    }
    for (const f of onPacket) f(client, packet)
  }
  return (client) => { (parserOf(client) as Parser).prependListener('packet', listener) }
}
