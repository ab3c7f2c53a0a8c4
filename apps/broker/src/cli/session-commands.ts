// `warden sessions`, `warden session …`: sessions by client id, and ending one; `warden client kick`.
import { limitQuery, none, noteShown, one, print, yesNo, type CliCommand, type Ctx } from './command.js'
import { formatPairs, formatTable } from './table.js'

interface SessionView { clientId: string, account: string | null, connected: boolean, clean: boolean, since: string, subscriptions: number, queued?: number }

const sessionPath = (clientId: string): string => `/api/v1/sessions/${encodeURIComponent(clientId)}`

async function listSessions (ctx: Ctx): Promise<void> {
  none(ctx.p)
  const data = await ctx.api('GET', '/api/v1/sessions' + limitQuery(ctx.p)) as { total: number, sessions: SessionView[] }
  print(ctx, data, () => formatTable(['CLIENT ID', 'ACCOUNT', 'CONNECTED', 'CLEAN', 'SUBSCRIPTIONS', 'SINCE'],
    data.sessions.map((s) => [s.clientId, s.account ?? '(anonymous)', yesNo(s.connected), yesNo(s.clean), String(s.subscriptions), s.since])))
  noteShown(ctx, data.sessions.length, data.total)
}

const LIST: CliCommand = {
  args: '[--limit N]',
  summary: 'sessions by client id: account, connected, clean',
  details: ['--limit N  at most N rows (the API\'s default is 1000)'],
  spec: { values: ['limit'] },
  run: listSessions
}

export const SESSION_COMMANDS: Readonly<Record<string, CliCommand>> = {
  sessions: LIST,
  'session ls': LIST,
  'session show': {
    args: '<client-id>',
    summary: 'one session, with its queued messages',
    async run (ctx) {
      const s = await ctx.api('GET', sessionPath(one(ctx.p, 'client id'))) as SessionView
      print(ctx, s, () => formatPairs([
        ['client id', s.clientId], ['account', s.account ?? '(anonymous)'], ['connected', yesNo(s.connected)], ['clean', yesNo(s.clean)],
        ['since', s.since], ['subscriptions', String(s.subscriptions)], ['queued', String(s.queued ?? '-')]
      ]))
    }
  },
  'client kick': {
    args: '<client-id>',
    summary: 'end a connected client\'s connection (no will); its session stays',
    async run (ctx) {
      const clientId = one(ctx.p, 'client id')
      const data = await ctx.api('DELETE', `/api/v1/clients/${encodeURIComponent(clientId)}`) as { clientId: string, account: string | null }
      print(ctx, data, () => `disconnected ${clientId} (account ${data.account ?? '(anonymous)'}); it may connect again\n`)
    }
  },
  'session rm': {
    args: '<client-id>',
    summary: 'end its connection (no will), remove it, free the id',
    async run (ctx) {
      const clientId = one(ctx.p, 'client id')
      await ctx.api('DELETE', sessionPath(clientId))
      print(ctx, { clientId }, () => `removed session ${clientId}; the client id is free\n`)
    }
  }
}
