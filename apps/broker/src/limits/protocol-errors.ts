// The errors aedes 2.0.0-beta.1's packet handlers raise for a packet that breaks the protocol, as they close
// its connection (lib/handlers/publish.js, subscribe.js, index.js): a wildcard or empty PUBLISH topic, too many
// levels, a wildcard Response Topic, a Topic Alias out of range or unknown (DISCONNECT 0x94), a Subscription
// Identifier of 0, an unknown protocol. aedes tells them only by their text, on its clientError and
// connectionError events; the other errors there (a socket's, a keepalive's, a store's) are not the client's
// malformed input. test/integration/security-malformed-audit.test.ts fails when an aedes upgrade changes a text.
const AEDES_PROTOCOL_ERRORS: readonly RegExp[] = [
  /^empty topic not allowed in PUBLISH$/,
  /^[#+] is not allowed in PUBLISH$/,
  /^wildcard is not allowed in Response Topic$/,
  /^topic has too many levels$/,
  /^topic alias \d+ is out of range/,
  /^unknown topic alias \d+$/,
  /^invalid subscription identifier/,
  /^Invalid protocol$/
]

/** the error is aedes refusing a client's packet as malformed or a protocol error */
export function isProtocolError (err: Error): boolean {
  return AEDES_PROTOCOL_ERRORS.some((re) => re.test(err.message))
}
