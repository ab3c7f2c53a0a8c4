// Reading a process's CPU time and memory from /proc, and finding a free port: shared by the harness and
// the broker processes it starts (a cluster primary sums its workers' CPU this way).
import net from 'node:net'
import { readdirSync, readFileSync } from 'node:fs'

export const CLK_TCK = 100 // Linux USER_HZ
const PAGE = 4096

export async function freePort () {
  const s = net.createServer()
  await new Promise((resolve) => s.listen(0, '127.0.0.1', resolve))
  const { port } = s.address()
  await new Promise((resolve) => s.close(resolve))
  return port
}

/** user + system CPU of a process (all threads), µs */
export function procCpuUs (pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) * 1e6 / CLK_TCK
}

export function procRss (pid) {
  const statm = readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')
  return Number(statm[1]) * PAGE
}

/**
 * The scheduler's account of a process (/proc/<pid>/task/<tid>/schedstat), µs: time running, time runnable
 * but waiting for a core, and how many times it got one — for its main thread and for all its threads.
 */
export function procSched (pid) {
  const read = (tid) => readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').trim().split(' ').map(Number)
  const all = { runUs: 0, waitUs: 0, slices: 0 }
  let main = null
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let v
    try { v = read(tid) } catch { continue } // a thread that has just ended
    const t = { runUs: v[0] / 1e3, waitUs: v[1] / 1e3, slices: v[2] }
    if (tid === String(pid)) main = t
    all.runUs += t.runUs; all.waitUs += t.waitUs; all.slices += t.slices
  }
  return { main, all }
}
