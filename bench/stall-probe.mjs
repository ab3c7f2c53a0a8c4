// `--trace`: a process that only sleeps 1 ms at a time and notes when it woke late (over 1 ms late). Started
// under `chrt -f` (real-time, when the harness may) nothing of the guest's ordinary processes can hold it
// back: a late wake-up of tens of ms is then the (virtual) machine itself — its CPU given to something else by
// the hypervisor, or the kernel — and the same stall falls on whichever broker is being measured.
const now = () => Number(process.hrtime.bigint()) / 1e3
const late = [] // [hrtime µs when it went to sleep, µs late]
let on = false
let last = now()
function tick () {
  const t = now()
  const d = t - last - 1000
  if (on && d > 1000) late.push([last, d])
  last = t
  setTimeout(tick, 1)
}
setTimeout(tick, 1)
process.on('message', (m) => {
  if (m.cmd === 'start') { late.length = 0; on = true; process.send({ type: 'start' }) }
  if (m.cmd === 'stop') { on = false; process.send({ type: 'stop', late }) }
  if (m.cmd === 'close') process.exit(0)
})
process.send({ type: 'ready', realtime: process.env.STALL_PROBE_RT === '1' })
