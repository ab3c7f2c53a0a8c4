// Checks a stored registry before it is trusted: parsed JSON must match the state schema.
import { Ajv } from 'ajv'
import { formatSchemaErrors, WardenError } from '@warden/common'
import { stateSchema, withRoles, type RegistryState } from './types.js'

const validate = new Ajv({ allErrors: true, strict: true }).compile<Parameters<typeof withRoles>[0]>(stateSchema)

/** Parses and checks the text of a stored registry; `where` names it in the error. */
export function parseState (text: string, where: string): RegistryState {
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (err) {
    throw new WardenError('WARDEN_ERR_REGISTRY',
      `registry ${where} is not valid JSON (${(err as Error).message}); ` +
      'restore it from a backup, or remove it to seed the registry from the config file again',
      { cause: err })
  }
  if (!validate(data)) {
    throw new WardenError('WARDEN_ERR_REGISTRY', `registry ${where} is malformed: ${formatSchemaErrors(validate.errors ?? [])}`)
  }
  return withRoles(data)
}
