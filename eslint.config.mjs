// The linter `npm test` runs: neostandard (the standard style of aedes and fastify, with typescript-eslint's
// syntax-only parser for .ts) plus a 160-character line limit. Rules changed from neostandard say why.
// typescript-eslint parses with the TypeScript 6 API, which TypeScript 7 no longer ships: package.json's
// overrides give neostandard's tree its own typescript 6; `tsc` stays TypeScript 7.
import neostandard from 'neostandard'

const TS = ['**/*.ts']
const JS = ['**/*.js', '**/*.mjs', '**/*.cjs']
const UNUSED = { args: 'none', caughtErrors: 'none', ignoreRestSiblings: true, vars: 'all', varsIgnorePattern: '^_$' }

export default [
  {
    ignores: [
      '**/dist/**', '**/node_modules/**', 'coverage/**', 'data/**', 'logs/**', 'test-results/**',
      'bench/results/**', 'bench/profiles/**', 'bench/*.tmp.mjs'
    ]
  },
  ...neostandard({ ts: true }),
  {
    files: [...TS, ...JS],
    rules: {
      // every line counts: comments, strings, URLs and regular expressions can be broken or pulled out too
      '@stylistic/max-len': ['error', { code: 160, tabWidth: 2 }],
      // multi-line literals keep related properties together on a line (metric definitions, packets, table rows)
      '@stylistic/object-property-newline': 'off',
      // `void promise` marks a promise left to run on its own on purpose
      'no-void': ['error', { allowAsStatement: true }],
      // `for (const x of iterable) return x` takes the first item of an (async) iterable; other loops stay checked
      'no-unreachable-loop': ['error', { ignore: ['ForOfStatement'] }],
      // where `resolve` is already taken (node:path's, an enclosing promise's) an executor names its own otherwise
      'promise/param-names': 'off'
    }
  },
  // `for await (const _ of stream) n++` counts; the loop needs a binding it does not read
  { files: TS, rules: { '@typescript-eslint/no-unused-vars': ['error', UNUSED] } },
  { files: JS, rules: { 'no-unused-vars': ['error', UNUSED] } },
  // prom-client metrics register themselves with their registry when constructed
  { files: ['apps/broker/src/observe/metrics.ts'], rules: { 'no-new': 'off' } },
  // the dashboard runs in the browser
  { files: ['apps/broker/dashboard/**/*.js'], languageOptions: { globals: { EventSource: 'readonly', location: 'readonly', Node: 'readonly' } } }
]
