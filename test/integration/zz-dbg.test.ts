import { it, expect } from 'vitest'
import { startBroker } from '../helpers/broker.js'
import { publishStream, receivedTogether } from '../helpers/groups.js'
import { connect, subscribe } from '../helpers/mqtt.js'
for (const persistence of ['memory', 'level']) it('dbg ' + persistence, async () => {
  const b = await startBroker({ config: { persistence } })
  const s = await connect(b.url, 'dashboard', { clientId: 'plain-durable', clean: false })
  await subscribe(s, 'sensors/#', 2)
  await s.end()
  const pub = await connect(b.url, 'sensor-1')
  await publishStream(pub, 'sensors/sensor-1/t', 100, 2)
  const back = await connect(b.url, 'dashboard', { clientId: 'plain-durable', clean: false })
  await Promise.race([receivedTogether([back], 100), new Promise((r) => setTimeout(r, 3000))])
  console.log(persistence, 'replay to plain persistent QoS2 got', back.messages.length, new Set(back.messages.map(m => m.payload)).size)
  await back.end(); await pub.end()
  await b.close()
}, 20000)
