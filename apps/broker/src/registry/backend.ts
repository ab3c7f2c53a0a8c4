// Where the registry lives: the interface a backend implements (file now, Redis for clusters, memory for tests).
import type { RegistryState } from './types.js'

export interface RegistryBackend {
  /** 'file', 'redis' or 'memory', for logs and /api/v1/status */
  readonly kind: string
  /** where, for people: a path or a redacted URL */
  readonly location: string
  /** the stored state, or undefined when nothing was ever stored (first start) */
  load (): Promise<RegistryState | undefined>
  /**
   * Stores `next` if the stored revision is still `next.revision - 1`; resolves once the change is durable.
   * false: another process changed the registry first (the caller reloads and tries again).
   */
  save (next: RegistryState): Promise<boolean>
  /** calls back when another process changed the stored state; backends with one writer never call it */
  watch (onChange: () => void): void
  close (): Promise<void>
}
