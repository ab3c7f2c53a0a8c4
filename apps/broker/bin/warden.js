#!/usr/bin/env node
// The `warden` command as npm links it (package.json "bin"): a file in git, so that `npm install` links
// node_modules/.bin/warden before the first build and `npx warden` never falls through to the registry.
import { existsSync } from 'node:fs'

const cli = new URL('../dist/cli.js', import.meta.url)
if (!existsSync(cli)) {
  process.stderr.write('warden: the CLI is not built yet: run `npm run build` at the repository root (`npm start` and `npm test` build it too)\n')
  process.exit(1)
}
await import(cli.href)
