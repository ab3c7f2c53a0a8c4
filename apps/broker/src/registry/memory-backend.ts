// The registry in memory only (persistence: memory): the config file seeds it at every start.
import type { RegistryBackend } from './backend.js'
import type { RegistryState } from './types.js'

export function createMemoryBackend (): RegistryBackend {
  let stored: RegistryState | undefined
  return {
    kind: 'memory',
    location: 'memory',
    load: () => Promise.resolve(stored),
    save (next) {
      if (next.revision !== (stored?.revision ?? 0) + 1) return Promise.resolve(false)
      stored = next
      return Promise.resolve(true)
    },
    watch () {},
    close: () => Promise.resolve()
  }
}
