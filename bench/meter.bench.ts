/**
 * Meter agent: one pulse a second for several minutes, as a meter beside a household would see, with
 * the agent in its own process started as the systemd unit starts it (the same runtime flags), and a
 * full node on 127.0.0.1. The agent runs as deployed: the one-file bundle of `npm run build -w meter-agent`. Prints the agent's resident memory (peak and at the end, from
 * /proc/<pid>/status) and its CPU share (from /proc/<pid>/stat), and what it minted.
 *
 *   npm exec -- node --disable-warning=ExperimentalWarning bench/meter.bench.ts [--seconds 180]
 */
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { build } from 'esbuild'
import { generateKeyPair, keySigner, toHex } from '@microgrid/protocol'
import { fundsOf } from '@microgrid/core'
import { Island } from '@microgrid/core/testing'
import { MicrogridNode } from '@microgrid/node'

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '180' } } })
const seconds = Number(values.seconds)
if (!Number.isFinite(seconds) || seconds < 10) throw new RangeError('--seconds: expected a number ≥ 10')
/** The runtime flags of meter-agent/systemd/microgrid-meter.service. */
const FLAGS = ['--max-semi-space-size=1', '--v8-pool-size=0', '--disable-warning=ExperimentalWarning']

const dir = await mkdtemp(join(tmpdir(), 'microgrid-meter-bench-'))
const island = new Island({ seed: 'meter-bench', start: Date.now() - 3_600_000 })
const { secretKey } = generateKeyPair()
const meter = keySigner(secretKey)
const producer = island.signer('producer')
island.must(island.registrar, 'register', { role: 'producer', account: producer.publicKey, meter: meter.publicKey, capacityW: 10_000, label: 'Rooftop' })
await writeFile(join(dir, 'grid.genesis'), island.genesis)
const node = await MicrogridNode.start({ genesis: island.genesis, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
const beacon = async (): Promise<void> => {
  island.clock.set(Date.now())
  island.beacon()
}
await beacon()
for (const op of island.ops) await node.submit(op)
let sent = island.ops.length
const beacons = setInterval(() => {
  void beacon().then(async () => { for (; sent < island.ops.length; sent++) await node.submit(island.ops[sent] as Uint8Array) })
}, 60_000)

await writeFile(join(dir, 'meter.key'), toHex(secretKey) + '\n', { mode: 0o600 })
await writeFile(join(dir, 'meter.json'), JSON.stringify({
  role: 'generation', keyFile: 'meter.key', genesis: 'grid.genesis', nodes: [node.multiaddrs[0]?.toString()], stateDir: 'state',
  pulsesPerKwh: 1000, whPerOp: 10, maxPowerW: 10_000,
  input: { source: 'simulated', powerW: 3_600 } // 3.6 kW at 1,000 pulses per kWh: one pulse a second
}))
// The agent as it is deployed: the bundle `npm run build -w meter-agent` makes, run by the unit's flags.
const agentDir = fileURLToPath(new URL('../meter-agent/', import.meta.url))
const cli = join(agentDir, 'dist', 'microgrid-meter.mjs')
await build({
  entryPoints: [join(agentDir, 'src', 'cli.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node22', outfile: cli, logLevel: 'warning',
  banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" }
})
const agent = spawn(process.execPath, [...FLAGS, cli, 'run', '--config', join(dir, 'meter.json')], { stdio: ['ignore', 'pipe', 'inherit'] })
agent.stdout.on('data', () => {})
const pid = agent.pid as number
const ticks = async (): Promise<number> => {
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? []
  return Number(stat[11]) + Number(stat[12]) // utime + stime, in clock ticks
}
const rss = async (): Promise<{ now: number, peak: number }> => {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0)
  return { now: kb('VmRSS') * 1024, peak: kb('VmHWM') * 1024 }
}
const TICKS_PER_S = 100 // USER_HZ on Linux
// Start-up (loading modules, dialing the node) is not what a meter costs once it runs: measure after 10 s.
await new Promise(resolve => setTimeout(resolve, 10_000))
const t0 = performance.now()
const c0 = await ticks()
let peakSampled = 0
const sampler = setInterval(() => { void rss().then(r => { peakSampled = Math.max(peakSampled, r.now) }, () => {}) }, 1_000)
await new Promise(resolve => setTimeout(resolve, (seconds - 10) * 1_000))
clearInterval(sampler)
const cpuShare = ((await ticks()) - c0) / TICKS_PER_S / ((performance.now() - t0) / 1000)
const memory = await rss()
agent.kill('SIGTERM')
await new Promise(resolve => agent.once('exit', resolve))
clearInterval(beacons)
const minted = fundsOf(node.ledger.state, producer.publicKey, Date.now()).balance
await node.stop()

const mb = (b: number): string => (b / 1024 / 1024).toFixed(1)
console.log(`\nMicrogrid meter agent benchmark (node ${process.version}, ${process.arch}; agent flags ${FLAGS.slice(0, 2).join(' ')})`)
console.log(`one pulse a second for ${seconds} s (measured over the last ${seconds - 10} s); the agent minted ${minted} Wh through its node`)
console.log(`resident memory  peak ${mb(memory.peak)} MB (VmHWM), sampled max ${mb(peakSampled)} MB, at the end ${mb(memory.now)} MB (target < 80 MB)`)
console.log(`CPU              ${(cpuShare * 100).toFixed(2)}% of a core (target < 2%)`)
