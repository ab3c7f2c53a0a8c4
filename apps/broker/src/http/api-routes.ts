// Maps /api/v1/<resource>[/<key>] and an HTTP method to a control command, and the answer's status.
import { isWardenError, WardenError } from '@warden/common'
import type { CommandName } from '../control/command-schemas.js'

interface Resource {
  readonly collection: Partial<Record<string, CommandName>>
  readonly item?: Partial<Record<string, CommandName>>
  /** the field the path's key fills */
  readonly key?: 'username' | 'filter' | 'name' | 'clientId'
  /** the key may span several path segments (topic filters contain '/') */
  readonly multiSegment?: boolean
}

const RESOURCES: Readonly<Record<string, Resource>> = {
  users: {
    collection: { GET: 'listUsers', POST: 'createUser' },
    item: { GET: 'getUser', PATCH: 'modifyUser', DELETE: 'deleteUser' },
    key: 'username'
  },
  roles: {
    collection: { GET: 'listRoles', POST: 'createRole' },
    item: { GET: 'getRole', PATCH: 'modifyRole', DELETE: 'deleteRole' },
    key: 'name'
  },
  topics: {
    collection: { GET: 'listTopics', POST: 'createTopic' },
    item: { GET: 'getTopic', PATCH: 'modifyTopic', DELETE: 'deleteTopic' },
    key: 'filter',
    multiSegment: true
  },
  clients: {
    collection: { GET: 'listClients' },
    item: { DELETE: 'kickClient' },
    key: 'clientId',
    // client ids may contain '/'
    multiSegment: true
  },
  fleet: { collection: { GET: 'listFleet' } },
  status: { collection: { GET: 'getStatus' } },
  denials: { collection: { GET: 'listDenials' } },
  groups: { collection: { GET: 'listGroups' } },
  // the whole registry, for `warden registry export|import`
  registry: { collection: { GET: 'exportRegistry', PUT: 'importRegistry' } },
  sessions: {
    collection: { GET: 'listSessions' },
    item: { GET: 'getSession', DELETE: 'deleteSession' },
    key: 'clientId',
    // client ids may contain '/'
    multiSegment: true
  }
}

export type ApiMatch =
  | { readonly kind: 'command', readonly command: CommandName, readonly params: Record<string, string>, readonly status: number, readonly body: boolean }
  | { readonly kind: 'method', readonly allow: readonly string[] }
  | { readonly kind: 'none' }

const STATUS: Readonly<Record<string, number>> = { GET: 200, HEAD: 200, POST: 201, PUT: 200, PATCH: 200, DELETE: 204 }
/** deletions whose answer says what else the change did (an account's registrations), so 200 with a body */
const DELETE_WITH_ANSWER: ReadonlySet<CommandName> = new Set(['deleteUser', 'kickClient'])

/** `segments` are the decoded path segments after /api/v1/. */
export function matchApi (method: string, segments: readonly string[]): ApiMatch {
  const [name, ...rest] = segments
  // own names only: the table is a plain object ('__proto__', 'constructor' would be found on its prototype)
  const res = name === undefined || !Object.hasOwn(RESOURCES, name) ? undefined : RESOURCES[name]
  if (res === undefined) return { kind: 'none' }
  const itemPath = rest.length > 0 && !(rest.length === 1 && rest[0] === '')
  if (itemPath && (res.item === undefined || res.key === undefined || (rest.length > 1 && res.multiSegment !== true))) return { kind: 'none' }
  const table = itemPath ? res.item ?? {} : res.collection
  const m = method === 'HEAD' ? 'GET' : method
  const command = table[m]
  if (command === undefined) return { kind: 'method', allow: Object.keys(table) }
  const params: Record<string, string> = itemPath && res.key !== undefined ? { [res.key]: rest.join('/') } : {}
  const status = DELETE_WITH_ANSWER.has(command) ? 200 : STATUS[m] ?? 200
  return { kind: 'command', command, params, status, body: m === 'POST' || m === 'PUT' || m === 'PATCH' }
}

/**
 * A URL ends at a bare '#' (curl and browsers send no fragment): `/api/v1/topics/plant/pump-7/#` asks for
 * "plant/pump-7/". A topic not found under a filter ending in '/' says how to write the '#'.
 */
export function withUrlHint (params: Readonly<Record<string, string>>, err: unknown): unknown {
  const filter = params.filter
  if (filter === undefined || !filter.endsWith('/') || !isWardenError(err) || err.code !== 'WARDEN_ERR_API_NOT_FOUND') return err
  return new WardenError(err.code, `${err.message} (write # as %23 in a URL)`, { cause: err })
}
