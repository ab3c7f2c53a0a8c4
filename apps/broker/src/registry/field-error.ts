// A coded error about one field of a request or a registry entry: the message starts with the field's name.
import { WardenError, type ErrorCode } from '@warden/common'

export class FieldError extends WardenError {
  constructor (code: ErrorCode, readonly field: string, message: string) {
    super(code, `${field}: ${message}`)
  }
}
