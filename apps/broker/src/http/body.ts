// Reads a request's JSON body, bounded in size.
import type { IncomingMessage } from 'node:http'
import { WardenError } from '@warden/common'
import { FieldError } from '../registry/field-error.js'

export const MAX_BODY = 256 * 1024
/** a registry import carries every account's hash: about 200 bytes an account, so room for 100,000 and more */
export const MAX_IMPORT_BODY = 64 * 1024 * 1024

export async function readJsonBody (req: IncomingMessage, limit = MAX_BODY): Promise<unknown> {
  const type = req.headers['content-type'] ?? ''
  // also what keeps browsers from sending cross-site form posts: a JSON request needs a CORS preflight
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new FieldError('WARDEN_ERR_API_BAD_REQUEST', 'content-type', `must be application/json, got ${JSON.stringify(type)}`)
  }
  const declared = Number(req.headers['content-length'] ?? '0')
  if (declared > limit) throw new WardenError('WARDEN_ERR_API_TOO_LARGE', `request body: must be at most ${limit} bytes`)
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > limit) throw new WardenError('WARDEN_ERR_API_TOO_LARGE', `request body: must be at most ${limit} bytes`)
    chunks.push(chunk as Buffer)
  }
  const text = Buffer.concat(chunks).toString('utf8')
  if (text.trim() === '') throw new FieldError('WARDEN_ERR_API_BAD_REQUEST', '(body)', 'must be a JSON object, got nothing')
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new FieldError('WARDEN_ERR_API_BAD_REQUEST', '(body)', `is not valid JSON: ${(err as Error).message}`)
  }
}
