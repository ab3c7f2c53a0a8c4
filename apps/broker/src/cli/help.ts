// Usage texts, built from the commands' own args and summaries so that help and code cannot drift apart.
import type { CliCommand } from './command.js'

const COLUMN = 48

export const COMMON_HELP = `Common options: --url <url> (WARDEN_URL, default http://127.0.0.1:8080), --user <admin>
  (WARDEN_ADMIN_USER, default admin), --json (the API's data, for scripts and jq). The admin password
  comes from WARDEN_ADMIN_PASSWORD, or is asked for. Exit codes: 0 done, 1 refused by the broker,
  2 usage, 3 broker unreachable, 4 not allowed.`

function line (name: string, cmd: CliCommand): string {
  const synopsis = `  warden ${name}${cmd.args === '' ? '' : ' ' + cmd.args}`
  return synopsis.length < COLUMN ? synopsis.padEnd(COLUMN) + cmd.summary : `${synopsis}\n${' '.repeat(COLUMN)}${cmd.summary}`
}

/** one line per command, then the common options when any of them talks to the broker */
export function formatUsage (commands: ReadonlyArray<readonly [string, CliCommand]>, footer = ''): string {
  const common = commands.some(([, c]) => c.api !== false) ? `\n  ${COMMON_HELP}` : ''
  return `usage:\n${commands.map(([n, c]) => line(n, c)).join('\n')}${common}\n${footer}`
}

/** `warden <name> --help`: its usage, what it does, its own options */
export function formatCommandHelp (name: string, cmd: CliCommand): string {
  const details = (cmd.details ?? []).map((d) => `  ${d}\n`).join('')
  const common = cmd.api !== false ? `  ${COMMON_HELP}\n` : ''
  return `usage: warden ${name}${cmd.args === '' ? '' : ' ' + cmd.args}\n  ${cmd.summary}\n${details}${common}`
}
