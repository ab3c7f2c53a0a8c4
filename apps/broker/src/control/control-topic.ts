// The control plane over MQTT, in the style of Mosquitto's $CONTROL/dynamic-security/v1: an admin publishes
// {"commands":[{"command":"createUser",…}]} on $CONTROL/warden/v1 and reads {"responses":[…]} on
// $CONTROL/warden/v1/response (or on a subtopic of it named by "responseTopic").
import { isWardenError } from '@warden/common'
import type { ControlHandler } from '../hooks/hooks.js'
import { CONTROL_RESPONSE_TOPIC } from '../policy/control-topics.js'
import { checkTopicName } from '../policy/topic.js'
import { FieldError } from '../registry/field-error.js'
import { mqttActor, type Actor } from './acting-account.js'
import { executeCommand } from './commands.js'
import type { ControlContext } from './context.js'

const MAX_COMMANDS = 100

export interface ControlResponse {
  readonly command: unknown
  readonly correlationData?: unknown
  readonly data?: unknown
  readonly error?: string
  readonly code?: string
  readonly field?: string
}

export function createControlTopicHandler (ctx: ControlContext): ControlHandler {
  const reply = (topic: string, responses: ControlResponse[]): void => {
    const payload = Buffer.from(JSON.stringify({ responses }))
    ctx.broker.publish({ cmd: 'publish', topic, payload, qos: 1, retain: false, dup: false }, () => {})
  }
  return (client, identity, payload) => {
    let request: unknown
    try {
      request = JSON.parse(payload.toString())
    } catch {
      reply(CONTROL_RESPONSE_TOPIC, [failure(null, undefined, new FieldError('WARDEN_ERR_API_BAD_REQUEST', '(payload)', 'is not valid JSON'))])
      return
    }
    const r = request as { commands?: unknown, responseTopic?: unknown }
    const topic = typeof r?.responseTopic === 'string' ? r.responseTopic : CONTROL_RESPONSE_TOPIC
    if (!isResponseTopic(topic)) {
      const refusal = new FieldError('WARDEN_ERR_API_BAD_REQUEST', 'responseTopic', `must be ${CONTROL_RESPONSE_TOPIC} or a topic under it`)
      reply(CONTROL_RESPONSE_TOPIC, [failure(null, undefined, refusal)])
      return
    }
    if (!Array.isArray(r?.commands) || r.commands.length === 0 || r.commands.length > MAX_COMMANDS) {
      reply(topic, [failure(null, undefined, new FieldError('WARDEN_ERR_API_BAD_REQUEST', 'commands', `must be an array of 1 to ${MAX_COMMANDS} commands`))])
      return
    }
    // the account as it is now, if still the client's login: each registry change checks it again when made
    const actor = mqttActor(identity, ctx.hooks.accountOf(client), ctx.rules.directory)
    runAll(ctx, actor, r.commands).then((responses) => reply(topic, responses), (err: unknown) => ctx.logger.error({ err }, 'control request failed'))
  }
}

/** Commands run in order, each answered; one failing does not stop the next (as in Mosquitto). */
async function runAll (ctx: ControlContext, actor: Actor, commands: unknown[]): Promise<ControlResponse[]> {
  const out: ControlResponse[] = []
  for (const c of commands) {
    const obj = c !== null && typeof c === 'object' && !Array.isArray(c) ? c as Record<string, unknown> : {}
    const { correlationData, ...request } = obj
    try {
      const data = await executeCommand(ctx, actor, 'mqtt', c === obj ? request : c)
      out.push({ command: obj.command ?? null, ...(correlationData !== undefined ? { correlationData } : {}), data })
    } catch (err) {
      if (!isWardenError(err)) ctx.logger.error({ err, command: obj.command }, 'control command failed')
      out.push(failure(obj.command ?? null, correlationData, err))
    }
  }
  return out
}

function failure (command: unknown, correlationData: unknown, err: unknown): ControlResponse {
  const base = { command, ...(correlationData !== undefined ? { correlationData } : {}) }
  if (!isWardenError(err)) return { ...base, error: 'internal error (see the broker log)', code: 'WARDEN_ERR_INTERNAL' }
  return { ...base, error: err.message, code: err.code, ...(err instanceof FieldError ? { field: err.field } : {}) }
}

function isResponseTopic (topic: string): boolean {
  return checkTopicName(topic) === null && (topic === CONTROL_RESPONSE_TOPIC || topic.startsWith(`${CONTROL_RESPONSE_TOPIC}/`))
}
