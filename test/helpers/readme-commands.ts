// The shell commands of README.md's ```sh blocks, one per command as a user would type it, with the section
// they are under; and the one substitution the README documents for running them against another copy.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

export interface ReadmeCommand {
  /** the `## ` heading the block is under (a `### ` subsection counts as its `## ` section) */
  readonly section: string
  /** as printed: continuation lines, a quoted string over several lines and a `for … done` stay one command */
  readonly text: string
}

export function readmeCommands (root = join(import.meta.dirname, '..', '..')): ReadmeCommand[] {
  const out: ReadmeCommand[] = []
  let section = ''
  let block: string[] | undefined
  for (const line of readFileSync(join(root, 'README.md'), 'utf8').split('\n')) {
    if (block !== undefined) {
      if (line.startsWith('```')) {
        for (const text of splitCommands(block)) out.push({ section, text })
        block = undefined
      } else block.push(line)
    } else if (line.startsWith('## ')) section = line.slice(3).trim()
    else if (line.trim() === '```sh') block = []
  }
  return out
}

/** continuation lines joined, whitespace runs as one space: what a spec names a command by */
export const normalized = (text: string): string => text.replace(/\\\n/g, ' ').replace(/\s+/g, ' ').trim()

const OPENS = new Set(['for', 'while', 'until', 'if', 'case'])
const CLOSES = new Set(['done', 'fi', 'esac'])

/** Splits a block into commands: at the end of a line outside quotes, continuations and compound commands. */
export function splitCommands (lines: readonly string[]): string[] {
  const out: string[] = []
  let cur: string[] = []
  let quote: string | undefined
  let depth = 0
  for (const line of lines) {
    // a comment line between commands (the README's "# register a topic tree …", an answer shown as a comment)
    if (cur.length === 0 && /^\s*(#|$)/.test(line)) continue
    cur.push(line)
    let continued = false
    for (let i = 0; i < line.length; i++) {
      const c = line[i]
      if (quote !== undefined) {
        if (c === quote) quote = undefined
        else if (c === '\\' && quote === '"') i++
      } else if (c === '\'' || c === '"') quote = c
      else if (c === '\\') { if (i === line.length - 1) continued = true; i++ } else if (c === '#' && (i === 0 || /\s/.test(line[i - 1] ?? ''))) break
    }
    if (quote !== undefined || continued) continue
    const first = line.trim().split(/[\s;]+/)[0] ?? ''
    if (OPENS.has(first)) depth++
    if (CLOSES.has(first)) depth--
    if (depth > 0) continue
    out.push(cur.join('\n').trim())
    cur = []
  }
  if (cur.length > 0) throw new Error(`README: a command block ends inside a command: ${cur.join('\n')}`)
  return out
}

/**
 * The README's own rule for a copy started on other ports ("Run it", below the table of variables): the MQTT
 * clients get `-p $WARDEN_MQTT_PORT`, URLs the HTTP port `$WARDEN_HTTP_PORT`; the CLI reads WARDEN_URL itself.
 */
export function forAnotherCopy (text: string): string {
  return text
    .replace(/\bmosquitto_(pub|sub)\b/g, '$& -p "$WARDEN_MQTT_PORT"')
    .replace(/http:\/\/127\.0\.0\.1:8080\b/g, 'http://127.0.0.1:$WARDEN_HTTP_PORT')
}

/** a well-known port left in a command after the substitution (it would reach the default stack, or nothing) */
export const wellKnownPort = (text: string): string | undefined => /\b(1883|8080|8883|6379)\b/.exec(text)?.[0]
