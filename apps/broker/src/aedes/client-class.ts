// aedes exports only its broker. Its Client class is its lib/client.js, the very module aedes loads, and the few
// changes Warden makes to every client are made on that class's prototype, once per process: packet ids
// (packet-ids.ts) and the held packets written out before a close (client-internals.ts).
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'

export interface AedesClientClass { readonly prototype: object }

let loading: Promise<AedesClientClass | undefined> | undefined

/** aedes's Client class (undefined if its lib/client.js exports none) */
export async function aedesClientClass (): Promise<AedesClientClass | undefined> {
  loading ??= (async () => {
    const entry = createRequire(import.meta.url).resolve('aedes')
    const { default: AedesClient } = await import(new URL('lib/client.js', pathToFileURL(entry)).href) as { default?: AedesClientClass }
    return AedesClient
  })()
  return await loading
}
