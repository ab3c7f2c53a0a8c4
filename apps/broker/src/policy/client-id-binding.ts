// Who a client id belongs to, and the pure rule deciding whether a CONNECT may take it.

/** The account of anonymous clients: they share one, so they can take over each other's ids, never an account's. */
export const ANONYMOUS = null

export interface Binding {
  /** username, or null for anonymous clients */
  readonly account: string | null
  /** a clean session ends with its connection, so its binding does too */
  readonly clean: boolean
  /** a connection holds the id now (for persistent sessions; a clean binding exists only while connected) */
  readonly connected: boolean
  /** the broker process whose connection made the binding */
  readonly brokerId: string
  /** that connection, unique per CONNECT: a release by an older connection must not free a newer one's id */
  readonly conn: string
  /** epoch ms of that CONNECT */
  readonly since: number
}

export interface HolderState {
  /** the connection that made the binding is still open */
  connectionAlive (b: Binding): boolean
  /** the account still exists (a deleted account's sessions go with it) */
  accountExists (account: string): boolean
}

/**
 * May `account` take the id held by `held`? A clean binding whose connection is gone (its broker died, or
 * this process restarted) binds nothing: its session ended with the connection. Nor does the binding of a
 * deleted account.
 */
export function mayClaim (held: Binding | undefined, account: string | null, state: HolderState): boolean {
  if (held === undefined || held.account === account) return true
  if (held.account !== null && !state.accountExists(held.account)) return true
  return held.clean && !state.connectionAlive(held)
}
