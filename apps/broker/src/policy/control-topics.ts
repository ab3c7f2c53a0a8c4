// The control plane's MQTT topics: admins publish requests to one topic and read answers under another.

/** requests: `{"commands":[{"command":"createUser",…}]}`, accepted from admins only, never forwarded */
export const CONTROL_TOPIC = '$CONTROL/warden/v1'
/** answers: `{"responses":[…]}`; a request may name a subtopic of it (`responseTopic`) */
export const CONTROL_RESPONSE_TOPIC = '$CONTROL/warden/v1/response'
/** the read grant admins get implicitly; no other role may read $CONTROL */
export const CONTROL_RESPONSE_FILTER = '$CONTROL/warden/v1/response/#'

export function isControlTopic (topic: string): boolean {
  return topic === '$CONTROL' || topic.startsWith('$CONTROL/')
}
