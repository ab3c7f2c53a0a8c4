// The outermost stage of authenticate: a refused MQTT 5 CONNECT gets the CONNACK code its refusal names
// (reason-codes.ts) where aedes's own map of the 3.1.1 return code would say something else (0x88 "server
// unavailable" for a lockout, say). 3.1.1 clients, and v5 refusals aedes maps right, pass untouched.
import { isMqtt5, refuseConnect } from '../aedes/v5-answers.js'
import type { HookStage } from './pipeline.js'
import type { ConnectRefusal } from './reason-codes.js'

export const v5Connack: HookStage = {
  name: 'v5-connack',
  authenticate (client, username, password, cb, next) {
    next(client, username, password, (err, ok) => {
      const code = (err as ConnectRefusal | null)?.v5ReasonCode
      if (code !== undefined && isMqtt5(client)) refuseConnect(client, code)
      cb(err, ok)
    })
  }
}
