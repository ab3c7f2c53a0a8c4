// `warden passwd`: a scrypt hash for a config's passwordHash, computed here; no broker involved.
import { DEFAULT_SCRYPT, hashPassword } from '../auth/password.js'
import { usageError } from './args.js'
import type { CliCommand } from './command.js'
import { readSecret } from './secret.js'

export const PASSWD_COMMAND: CliCommand = {
  args: '[--cost K] [password]',
  summary: 'print a scrypt hash for a user\'s passwordHash',
  details: ['Without a password argument it is read from standard input (one line), or typed hidden at a',
    'terminal, which keeps it out of the shell history.',
    '--cost K  scrypt N = 2^K (default 14, 10..20): each step doubles the work of a login and of a guess'],
  spec: { values: ['cost'], common: false },
  api: false,
  async run (ctx) {
    let params = DEFAULT_SCRYPT
    const cost = ctx.p.values.get('cost')?.[0]
    if (cost !== undefined) {
      const k = Number(cost)
      if (!Number.isInteger(k) || k < 10 || k > 20) throw usageError('--cost must be an integer 10..20')
      params = { ...DEFAULT_SCRYPT, N: 2 ** k }
    }
    if (ctx.p.positionals.length > 1) throw usageError('expects at most one password')
    const password = ctx.p.positionals[0] ?? await readSecret(ctx.io, 'password: ')
    if (password === undefined || password === '') throw usageError('empty password')
    ctx.io.stdout.write(await hashPassword(password, params) + '\n')
  }
}
