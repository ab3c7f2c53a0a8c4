// Where message records go: one JSON line each, to a size-rotated file and optionally to stdout.
import { basename, dirname } from 'node:path'
import type { Writable } from 'node:stream'
import { finished } from 'node:stream/promises'
import { createStream, type RotatingFileStream } from 'rotating-file-stream'

export interface SinkOptions {
  /** Absolute path; rotated copies are `<file>.1` (newest) to `<file>.<keep>`. */
  file?: string
  size: string
  keep: number
  stdout: boolean
}

export interface MessageSink {
  write (record: object): void
  /** Ends the file stream once everything written so far is on disk. */
  close (): Promise<void>
}

export interface SinkDeps {
  stdout?: Writable
  onError?: (err: Error) => void
}

export function createMessageSink (options: SinkOptions, { stdout = process.stdout, onError = () => {} }: SinkDeps = {}): MessageSink {
  let file: RotatingFileStream | undefined
  if (options.file !== undefined) {
    file = createStream(basename(options.file), {
      path: dirname(options.file),
      size: options.size,
      rotate: options.keep
    })
    // a full disk must not crash the consumer: it keeps counting and reports the error
    file.on('error', onError)
    file.on('warning', onError)
  }
  let closed = false

  return {
    write (record) {
      if (closed) return
      const line = JSON.stringify(record) + '\n'
      // no back-pressure towards MQTT: a slow disk buffers in memory rather than stalling acknowledgements
      file?.write(line)
      if (options.stdout) stdout.write(line)
    },
    async close () {
      if (closed) return
      closed = true
      if (file === undefined) return
      file.end()
      await finished(file).catch(onError)
    }
  }
}
