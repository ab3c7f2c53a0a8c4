// Login with a verified client certificate (mTLS): the certificate's name must be a configured username;
// no password is checked. A username sent in CONNECT must be that same name.
import type { Account, AuthResult } from './user-directory.js'

export function certificateLogin (account: Account | undefined, certName: string, username: string | undefined, loopback: boolean): AuthResult {
  if (account === undefined) {
    return {
      ok: false, returnCode: 5, reason: 'not-authorized',
      detail: `client certificate names ${JSON.stringify(certName)}, which is not a configured user`
    }
  }
  if (username !== undefined && username !== certName) {
    return { ok: false, returnCode: 5, reason: 'not-authorized', detail: 'username does not match the client certificate' }
  }
  if (account.loopbackOnly && !loopback) {
    return { ok: false, returnCode: 5, reason: 'not-authorized', detail: 'account is accepted from loopback clients only' }
  }
  return { ok: true, username: certName, roles: account.roles }
}
