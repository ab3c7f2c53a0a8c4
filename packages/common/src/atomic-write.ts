// Replaces a file atomically: a reader, or the next start after a crash, sees the old content or the new, never half.
import { mkdir, open, rename, rm } from 'node:fs/promises'
import { dirname } from 'node:path'

export interface AtomicWriteOptions {
  /**
   * fsync the temp file before the rename and the directory after it, so the new content has reached the
   * disk when the promise resolves (survives power loss, not only a crash of this process). Costs two
   * fsyncs: use it for state whose loss is wrong (the registry, sequence numbers), not for reports.
   */
  readonly durable?: boolean
  /** permission bits of a new file (0o600 for secrets); default 0o666 less the umask */
  readonly mode?: number
}

let seq = 0

/**
 * Writes `data` to a temp file in the same directory (a rename is atomic only within one file system), then
 * renames it over `path`. The directory is created when missing; the temp file is removed if anything fails.
 * Temp files are named `<path>.<pid>.<n>.tmp`, so a crash leftover can be recognised and removed.
 */
export async function writeFileAtomic (path: string, data: string | Uint8Array, { durable = false, mode = 0o666 }: AtomicWriteOptions = {}): Promise<void> {
  const dir = dirname(path)
  await mkdir(dir, { recursive: true })
  const tmp = `${path}.${process.pid}.${++seq}.tmp`
  try {
    // 'wx' so `mode` applies: a leftover of another process life with this pid is removed first
    await rm(tmp, { force: true })
    const fh = await open(tmp, 'wx', mode)
    try {
      await fh.writeFile(data)
      if (durable) await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, path)
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {})
    throw err
  }
  if (durable) await syncDir(dir)
}

/** makes a rename in `dir` durable */
async function syncDir (dir: string): Promise<void> {
  const fh = await open(dir, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}
