// The README's ```sh blocks split into the commands a user types, and the documented substitution of ports.
import { expect, it } from 'vitest'
import { forAnotherCopy, normalized, splitCommands, wellKnownPort } from '../helpers/readme-commands.js'

it.each([
  ['one command per line, comment lines between them left out', ['# a comment', 'npx pm2 list   # the processes', '', 'npm stop'],
    ['npx pm2 list   # the processes', 'npm stop']],
  ['a continuation line', ['curl -u a:b \\', '  http://127.0.0.1:8080/x'], ['curl -u a:b \\\n  http://127.0.0.1:8080/x']],
  ['a single-quoted string over two lines', ['mosquitto_pub -m \\', "  '{\"a\":1,", "   \"b\":2}'", '# {"answer"}'],
    ["mosquitto_pub -m \\\n  '{\"a\":1,\n   \"b\":2}'"]],
  ['a for loop', ['for d in a b; do', '  echo $d', 'done', 'npm restart'], ['for d in a b; do\n  echo $d\ndone', 'npm restart']],
  ["a '#' in quotes or inside a word is no comment", ["mosquitto_sub -t '#' -v", 'curl http://h/x%23#y'], ["mosquitto_sub -t '#' -v", 'curl http://h/x%23#y']]
])('%s', (_name, lines, commands) => {
  expect(splitCommands(lines)).toEqual(commands)
})

it('refuses a block that ends inside a command', () => {
  expect(() => splitCommands(["mosquitto_pub -m '{"])).toThrow(/ends inside a command/)
})

it('names a command by its text with continuations joined and whitespace as one space', () => {
  expect(normalized('curl -u a:b \\\n   -X PATCH   x')).toBe('curl -u a:b -X PATCH x')
})

it('moves the MQTT clients and URLs to the copy\'s ports, and finds a well-known port left over', () => {
  const moved = forAnotherCopy("mosquitto_sub -h 127.0.0.1 -t '#' & curl http://127.0.0.1:8080/api/v1/topics")
  expect(moved).toBe("mosquitto_sub -p \"$WARDEN_MQTT_PORT\" -h 127.0.0.1 -t '#' & curl http://127.0.0.1:$WARDEN_HTTP_PORT/api/v1/topics")
  expect(wellKnownPort(moved)).toBeUndefined()
  expect(wellKnownPort('redis-cli -p 6379')).toBe('6379')
})
