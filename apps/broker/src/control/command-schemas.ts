// JSON Schemas of the control commands' fields, shared by the HTTP API and the MQTT control topic.
import { exportSchema } from '../registry/transfer.js'
import { ROLE_NAME_MAX, ROLE_NAME_PATTERN, USERNAME_MAX, USERNAME_PATTERN } from '../policy/registration.js'

const username = { type: 'string', minLength: 1, maxLength: USERNAME_MAX, pattern: USERNAME_PATTERN }
const roles = { type: 'array', maxItems: 64, uniqueItems: true, items: { type: 'string', minLength: 1, maxLength: 128 } }
// scrypt's cost grows with the input: a password is long enough at 1 KiB
const password = { type: 'string', minLength: 8, maxLength: 1024 }
const passwordHash = { type: 'string', minLength: 1, maxLength: 1024 }
const loopbackOnly = { type: 'boolean' }
const filter = { type: 'string', minLength: 1, maxLength: 4096 }
const owners = { type: 'array', minItems: 1, maxItems: 10000, uniqueItems: true, items: { type: 'string', minLength: 1, maxLength: USERNAME_MAX } }
const schema = { type: 'object' }
const roleName = { type: 'string', minLength: 1, maxLength: ROLE_NAME_MAX, pattern: ROLE_NAME_PATTERN }
// MQTT allows client ids up to 65535 bytes
const clientId = { type: 'string', minLength: 1, maxLength: 65535 }
const textOrNumber = { anyOf: [{ type: 'string', minLength: 1, maxLength: 4096 }, { type: 'number' }] }
const subscribe = { type: 'array', maxItems: 1000, uniqueItems: true, items: { type: 'string', minLength: 1, maxLength: 4096 } }

function fields (properties: Record<string, unknown>, required: string[] = [], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: 'object', additionalProperties: false, properties, required, ...extra }
}

export type CommandName =
  | 'listUsers' | 'getUser' | 'createUser' | 'modifyUser' | 'deleteUser'
  | 'listRoles' | 'getRole' | 'createRole' | 'modifyRole' | 'deleteRole'
  | 'listTopics' | 'getTopic' | 'createTopic' | 'modifyTopic' | 'deleteTopic'
  | 'listClients' | 'kickClient' | 'getStatus' | 'listDenials' | 'listGroups' | 'listFleet'
  | 'listSessions' | 'getSession' | 'deleteSession'
  | 'exportRegistry' | 'importRegistry'

/** read: admins and observers; write: admins only; admin: reading what only admins may read (password hashes) */
export const COMMAND_ACCESS: Readonly<Record<CommandName, 'read' | 'write' | 'admin'>> = {
  listUsers: 'read',
  getUser: 'read',
  createUser: 'write',
  modifyUser: 'write',
  deleteUser: 'write',
  listRoles: 'read',
  getRole: 'read',
  createRole: 'write',
  modifyRole: 'write',
  deleteRole: 'write',
  listTopics: 'read',
  getTopic: 'read',
  createTopic: 'write',
  modifyTopic: 'write',
  deleteTopic: 'write',
  listClients: 'read',
  kickClient: 'write',
  listFleet: 'read',
  getStatus: 'read',
  listDenials: 'read',
  listGroups: 'read',
  listSessions: 'read',
  getSession: 'read',
  deleteSession: 'write',
  exportRegistry: 'admin',
  importRegistry: 'write'
}

/** Commands that carry password hashes: over HTTP only (see HTTP_ONLY's use in commands.ts). */
export const HTTP_ONLY: ReadonlySet<CommandName> = new Set(['exportRegistry', 'importRegistry'])

export const COMMAND_SCHEMAS: Readonly<Record<CommandName, Record<string, unknown>>> = {
  listUsers: fields({}),
  getUser: fields({ username }, ['username']),
  createUser: fields({ username, password, passwordHash, roles, loopbackOnly }, ['username', 'roles']),
  modifyUser: fields({ username, password, passwordHash, roles, loopbackOnly }, ['username'], { minProperties: 2 }),
  deleteUser: fields({ username }, ['username']),
  listRoles: fields({}),
  getRole: fields({ name: roleName }, ['name']),
  createRole: fields({ name: roleName, subscribe }, ['name', 'subscribe']),
  modifyRole: fields({ name: roleName, subscribe }, ['name', 'subscribe']),
  deleteRole: fields({ name: roleName }, ['name']),
  listTopics: fields({}),
  getTopic: fields({ filter }, ['filter']),
  createTopic: fields({ filter, owners, schema }, ['filter', 'owners']),
  modifyTopic: fields({ filter, owners, schema: { anyOf: [schema, { type: 'null' }] } }, ['filter'], { minProperties: 2 }),
  deleteTopic: fields({ filter }, ['filter']),
  listClients: fields({ limit: { type: 'integer', minimum: 1, maximum: 100000 } }),
  kickClient: fields({ clientId }, ['clientId']),
  listFleet: fields({ limit: { type: 'integer', minimum: 1, maximum: 100000 } }),
  getStatus: fields({}),
  // query parameters that look like numbers arrive as numbers (a user called 1234)
  listDenials: fields({
    username: textOrNumber, reason: textOrNumber, kind: textOrNumber, topic: textOrNumber, limit: { type: 'integer', minimum: 1, maximum: 1000 }
  }),
  listGroups: fields({}),
  listSessions: fields({ limit: { type: 'integer', minimum: 1, maximum: 100000 } }),
  getSession: fields({ clientId }, ['clientId']),
  deleteSession: fields({ clientId }, ['clientId']),
  exportRegistry: fields({}),
  importRegistry: exportSchema
}

export function isCommandName (name: unknown): name is CommandName {
  return typeof name === 'string' && Object.hasOwn(COMMAND_SCHEMAS, name)
}
