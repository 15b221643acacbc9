/**
 * Scale: a node holding 1,000,000 ops. Builds the history once (cached in a directory between runs),
 * then starts a node on it in a fresh process and reports its cold start time and resident memory.
 * `npm exec -- node --expose-gc bench/scale.bench.ts [--ops 1000000] [--dir <cache dir>]`
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Ledger, nativeSigner } from '@microgrid/core'
import { Island, seededRandom } from '@microgrid/core/testing'
import { SqliteStorage } from '@microgrid/node'

const { values } = parseArgs({
  options: {
    ops: { type: 'string', default: '1000000' },
    dir: { type: 'string' }
  }
})
const count = Number(values.ops)
if (!Number.isSafeInteger(count) || count < 1_000) throw new RangeError('--ops: expected an integer ≥ 1000')
const dir = values.dir ?? join(tmpdir(), `microgrid-scale-${count}`)
const log = (s: string): void => { process.stderr.write(s + '\n') }
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')

// 1. The node's data directory with `count` ops, built once.
const done = join(dir, 'complete')
if (!existsSync(done)) {
  await rm(dir, { recursive: true, force: true })
  await mkdir(join(dir, 'node'), { recursive: true })
  let t = performance.now()
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
  t = performance.now()
  // The ops were signed a moment ago by this process: loaded without re-verifying, to save time here.
  const storage = SqliteStorage.open(join(dir, 'node', 'ledger.sqlite'))
  const ledger = await Ledger.open({ genesis: island.genesis, storage, verifier: { name: 'trusted', verify: () => true } })
  for (let i = 0; i < island.ops.length; i += 2_000) await ledger.applyBatch(island.ops.slice(i, i + 2_000))
  await ledger.snapshot()
  await writeFile(join(dir, 'hash'), ledger.stateHash())
  await storage.close()
  log(`stored in ${((performance.now() - t) / 1000).toFixed(0)} s`)
  await writeFile(done, String(island.ops.length))
}
const held = Number(await readFile(done, 'utf8'))

// 2. A cold start in a fresh process: time to a running node, then its resident memory.
const child = spawn(process.execPath, ['--expose-gc', '--disable-warning=ExperimentalWarning', fileURLToPath(new URL('./fixtures/cold-start.ts', import.meta.url)), join(dir, 'genesis'), join(dir, 'node')], { stdio: ['ignore', 'pipe', 'inherit'] })
let out = ''
child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
await new Promise(resolve => child.on('exit', resolve))
const report = JSON.parse(out) as { startMs: number, rss: number, heapUsed: number, hash: string }
const expected = await readFile(join(dir, 'hash'), 'utf8')
console.log(`\nMicrogrid scale benchmark (node ${process.version}, ${process.arch})`)
console.log(`node holding ${fmt(held)} ops (SQLite, ${dir})`)
console.log(`cold start      ${(report.startMs / 1000).toFixed(2)} s to a running node (target < 3 s); ${report.hash === expected ? 'state hash as stored' : 'STATE HASH DIFFERS'}`)
console.log(`resident memory ${fmt(report.rss / 1024 / 1024)} MB RSS (target < 300 MB), heap ${fmt(report.heapUsed / 1024 / 1024)} MB`)
