/**
 * Scale: a node holding 1,000,000 ops. Builds the history once (cached in a directory between runs),
 * then starts a node on a copy of it in a fresh process and reports its cold start time and resident
 * memory, and then, measured side by side in that process, how long the node takes to apply one fork
 * of a fresh key against one ordinary batch of the same size.
 * `npm exec -- node --expose-gc bench/scale.bench.ts [--ops 1000000] [--dir <cache dir>] [--rounds 5] [--fork-batch 4] [--starts 3]`
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { cp, mkdir, open, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { build } from 'esbuild'
import { Ledger, nativeSigner, SNAPSHOT_FORMAT } from '@microgrid/core'
import { Island, seededRandom } from '@microgrid/core/testing'
import { SqliteStorage, SQLITE_STORAGE_VERSION } from '@microgrid/node'

/**
 * The version of the generated history: bump it whenever the island, its simulation or the op format
 * changes, so a cache made by older code is never reused (v3: protocol v2 ops with beacons).
 */
const HISTORY_VERSION = 3

const { values } = parseArgs({
  options: {
    ops: { type: 'string', default: '1000000' },
    dir: { type: 'string' },
    rounds: { type: 'string', default: '5' },
    'fork-batch': { type: 'string', default: '4' },
    starts: { type: 'string', default: '3' }
  }
})
const count = Number(values.ops)
const rounds = Number(values.rounds)
const forkBatch = Number(values['fork-batch'])
const starts = Number(values.starts)
if (!Number.isSafeInteger(count) || count < 1_000) throw new RangeError('--ops: expected an integer ≥ 1000')
if (!Number.isSafeInteger(rounds) || rounds < 1) throw new RangeError('--rounds: expected a positive integer')
if (!Number.isSafeInteger(forkBatch) || forkBatch < 2) throw new RangeError('--fork-batch: expected an integer ≥ 2')
if (!Number.isSafeInteger(starts) || starts < 1) throw new RangeError('--starts: expected a positive integer')
const dir = values.dir ?? join(tmpdir(), `microgrid-scale-v${HISTORY_VERSION}-${count}`)
const log = (s: string): void => { process.stderr.write(s + '\n') }
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')

// 1. The history: `count` signed ops, generated once (several minutes) into `dir`.
const historyDone = join(dir, 'complete')
if (!existsSync(historyDone)) {
  await rm(dir, { recursive: true, force: true })
  await mkdir(dir, { recursive: true })
  const t = performance.now()
  const island = new Island({
    seed: 'scale', producers: 200, households: 2_000, streetLights: 300, residents: 2_500,
    signerFor: sk => nativeSigner(sk) ?? (() => { throw new Error('the native signer did not load') })()
  })
  let last = 0
  const random = seededRandom(11)
  while (island.ops.length < count) {
    island.simulate(Math.min(count, island.ops.length + 50_000), random)
    if (island.ops.length - last >= 100_000) { log(`generated ${fmt(island.ops.length)} ops`); last = island.ops.length }
  }
  log(`generated ${fmt(island.ops.length)} ops in ${((performance.now() - t) / 1000).toFixed(0)} s`)
  await writeFile(join(dir, 'genesis'), island.genesis)
  // The ops, each as a 4-byte big-endian length and the op's bytes.
  const file = await open(join(dir, 'ops'), 'w')
  for (let i = 0; i < island.ops.length; i += 10_000) {
    const chunk = island.ops.slice(i, i + 10_000)
    const out = Buffer.alloc(chunk.reduce((s, b) => s + 4 + b.length, 0))
    let at = 0
    for (const b of chunk) { out.writeUInt32BE(b.length, at); out.set(b, at + 4); at += 4 + b.length }
    await file.write(out)
  }
  await file.close()
  await writeFile(historyDone, String(island.ops.length))
}
const held = Number(await readFile(historyDone, 'utf8'))

// 2. A node's data directory holding that history, per snapshot format (the stored snapshot is one).
const nodeDir = join(dir, `node-snapshot-v${SNAPSHOT_FORMAT}-sqlite-v${SQLITE_STORAGE_VERSION}`)
const nodeDone = join(nodeDir, 'complete')
if (!existsSync(nodeDone)) {
  await rm(nodeDir, { recursive: true, force: true })
  await mkdir(join(nodeDir, 'node'), { recursive: true })
  const t = performance.now()
  const genesis = await readFile(join(dir, 'genesis'))
  const file = await readFile(join(dir, 'ops'))
  const ops: Uint8Array[] = []
  for (let at = 0; at < file.length;) {
    const length = file.readUInt32BE(at)
    ops.push(file.subarray(at + 4, at + 4 + length))
    at += 4 + length
  }
  // The ops were signed by the generator: loaded without re-verifying, to save time here.
  const storage = SqliteStorage.open(join(nodeDir, 'node', 'ledger.sqlite'))
  const ledger = await Ledger.open({ genesis, storage, verifier: { name: 'trusted', verify: () => true } })
  for (let i = 0; i < ops.length; i += 2_000) await ledger.applyBatch(ops.slice(i, i + 2_000))
  await ledger.snapshot()
  await writeFile(join(nodeDir, 'hash'), ledger.stateHash())
  await storage.close()
  log(`stored in ${((performance.now() - t) / 1000).toFixed(0)} s`)
  await writeFile(nodeDone, String(ops.length))
}

// 3. A cold start in a fresh process, on a copy of the data directory (the fork measurement writes
// to it): time to a running node, its resident memory, then forks and ordinary batches applied. The
// node as it is deployed: one bundled file (as `npm run build -w node` makes dist/microgrid.mjs and
// the desktop app bundles its node); then, for comparison, the same fixture from the TypeScript
// sources, which Node strips of their types as it loads them (a WebAssembly compiler in the process).
interface Report {
  startMs: number, rss: number, heapUsed: number, external: number, arrayBuffers: number, hash: string,
  rounds: Array<{ ordinaryMs: number, forkMs: number, rewinds: number, statuses: string }>
}
const fixture = fileURLToPath(new URL('./fixtures/cold-start.ts', import.meta.url))
// Inside the project, so what the bundle loads at run time (the native verifier's addon) resolves from
// its node_modules, as it does beside node/dist/microgrid.mjs.
const bundled = fileURLToPath(new URL(`./.cold-start-${process.pid}/cold-start.mjs`, import.meta.url))
await build({
  entryPoints: [fixture], outfile: bundled, bundle: true, platform: 'node', format: 'esm', target: 'node22', logLevel: 'warning',
  banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" }
})
const run = join(tmpdir(), `microgrid-scale-run-${process.pid}`)
await rm(run, { recursive: true, force: true })
await cp(join(nodeDir, 'node'), run, { recursive: true })
// The copy on disk before a node starts, as a node's data is at rest when it starts: otherwise the
// kernel writes a gigabyte back while the node reads it.
for (const name of await readdir(run)) {
  const handle = await open(join(run, name), 'r+')
  await handle.sync()
  await handle.close()
}
async function coldStart (program: string, withRounds: number): Promise<Report> {
  const child = spawn(process.execPath, ['--expose-gc', '--disable-warning=ExperimentalWarning', program, join(dir, 'genesis'), run, String(withRounds), String(forkBatch)], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
  const code = await new Promise(resolve => child.on('exit', resolve))
  if (code !== 0) throw new Error(`the cold start process exited with ${String(code)}`)
  return JSON.parse(out) as Report
}
// Cold starts one after the other on the same data, the bundle and the sources in turn; then one more
// start of the bundle that applies the forks (they write to the data).
const asDeployed: Report[] = []
const fromSources: Report[] = []
for (let i = 0; i < starts; i++) {
  asDeployed.push(await coldStart(bundled, 0))
  fromSources.push(await coldStart(fixture, 0))
}
const report = await coldStart(bundled, rounds)
await rm(run, { recursive: true, force: true })
await rm(dirname(bundled), { recursive: true, force: true })
const expected = await readFile(join(nodeDir, 'hash'), 'utf8')
const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 === 1 ? s[m] as number : ((s[m - 1] as number) + (s[m] as number)) / 2 }
console.log(`\nMicrogrid scale benchmark (node ${process.version}, ${process.arch})`)
console.log(`node holding ${fmt(held)} ops (SQLite, ${nodeDir}); ${starts} cold starts of each, in turn`)
const mb = (n: number): string => fmt(n / 1024 / 1024)
function describe (reports: Report[], targets: boolean): string[] {
  const seconds = reports.map(r => r.startMs / 1000)
  const hashes = reports.every(r => r.hash === expected) ? 'state hash as stored' : 'STATE HASH DIFFERS'
  const last = reports[reports.length - 1] as Report
  return [
    `  cold start      median ${median(seconds).toFixed(2)} s to a running node (${seconds.map(x => x.toFixed(2)).join(', ')})${targets ? ' (target < 1 s)' : ''}; ${hashes}`,
    `  resident memory median ${mb(median(reports.map(r => r.rss)))} MB RSS (${reports.map(r => mb(r.rss)).join(', ')})${targets ? ' (target ≤ 250 MB)' : ''}; ` +
      `the last: heap ${mb(last.heapUsed)} MB, external ${mb(last.external)} MB (array buffers ${mb(last.arrayBuffers)} MB)`
  ]
}
console.log('the node bundled into one file, as deployed:')
for (const line of describe(asDeployed, true)) console.log(line)
console.log('the same node run from the TypeScript sources (Node strips the types as it loads them):')
for (const line of describe(fromSources, false)) console.log(line)
console.log(`fork of a fresh key vs an ordinary batch of ${forkBatch} ops, each applied through Ledger.applyBatch on the ${fmt(held)}-op node:`)
report.rounds.forEach((r, i) => {
  console.log(`  round ${i + 1}: ordinary ${r.ordinaryMs.toFixed(1)} ms, fork ${r.forkMs.toFixed(1)} ms (${(r.forkMs / r.ordinaryMs).toFixed(1)}×; ${r.rewinds} rewind; ${r.statuses})`)
})
const ordinary = median(report.rounds.map(r => r.ordinaryMs))
const fork = median(report.rounds.map(r => r.forkMs))
console.log(`  median: ordinary ${ordinary.toFixed(1)} ms, fork ${fork.toFixed(1)} ms = ${(fork / ordinary).toFixed(1)}× an ordinary batch`)
