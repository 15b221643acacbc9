/**
 * Ledger benchmark: a realistic island history of signed ops, then, measured side by side in one run,
 * the raw verify rate of each verifier, the ledger's ingest rate with each, their ratio, and the heap
 * held per op. Run with `npm run bench` (`--ops N` to change the history size, default 100,000).
 */
import { parseArgs } from 'node:util'
import { decodeOp, nobleVerifier, type SignatureVerifier } from '@microgrid/protocol'
import { Ledger, LedgerState, MemoryStorage, VerifierPool, nativeSigner, nativeVerifier, type BatchVerifier } from '@microgrid/core'
import { Island, seededRandom } from '@microgrid/core/testing'

const { values } = parseArgs({
  options: {
    ops: { type: 'string', default: '100000' },
    'noble-sample': { type: 'string', default: '4000' },
    batch: { type: 'string', default: '500' }
  }
})
const count = Number(values.ops)
const nobleSample = Number(values['noble-sample'])
const batchSize = Number(values.batch)
if (!Number.isSafeInteger(count) || count < 1_000) throw new RangeError('--ops: expected an integer ≥ 1000')
if (!Number.isSafeInteger(nobleSample) || nobleSample < 100) throw new RangeError('--noble-sample: expected an integer ≥ 100')
if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new RangeError('--batch: expected a positive integer')

const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error('run with --expose-gc (npm run bench does)')
const native = nativeVerifier()
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')
const log = (s: string): void => { process.stderr.write(s + '\n') }

// 1. The history: meters minting per kWh, wholesale and retail sales against receipts, residents
// funding households and street lights (some within a window), meters burning.
let t = performance.now()
const island = new Island({
  seed: 'bench', producers: 40, households: 300, streetLights: 60, residents: 400,
  signerFor: sk => nativeSigner(sk) ?? (() => { throw new Error('the native signer did not load') })()
})
island.simulate(count, seededRandom(42))
const ops = island.ops
log(`generated ${fmt(ops.length)} signed ops in ${((performance.now() - t) / 1000).toFixed(1)} s`)
const kinds = new Map<string, number>()
const decoded = ops.map(b => decodeOp(b))
for (const d of decoded) kinds.set(d.op.kind, (kinds.get(d.op.kind) ?? 0) + 1)
const bytesTotal = ops.reduce((s, b) => s + b.length, 0)

// 2. Raw verify rate: signature checks only, on already decoded ops.
function verifyRate (verifier: SignatureVerifier, n: number): number {
  const sample = decoded.slice(0, n)
  const start = performance.now()
  for (const d of sample) if (!verifier.verify(d.op.sig, d.id, d.op.author)) throw new Error('a valid signature failed')
  return sample.length / ((performance.now() - start) / 1000)
}

// 3. Ingest rate: wire bytes -> decode -> verify -> rules -> stored, through Ledger.applyBatch.
async function ingestRate (verifier: SignatureVerifier, n: number, batchVerifier?: BatchVerifier): Promise<{ rate: number, ledger: Ledger }> {
  const ledger = await Ledger.open({ genesis: island.genesis, verifier, batchVerifier, storage: new MemoryStorage() })
  const slice = ops.slice(0, n)
  const start = performance.now()
  for (let i = 0; i < slice.length; i += batchSize) {
    for (const r of await ledger.applyBatch(slice.slice(i, i + batchSize))) {
      if (r.status !== 'applied') throw new Error(`op not applied: ${r.status}`)
    }
  }
  return { rate: slice.length / ((performance.now() - start) / 1000), ledger }
}

const rows: Array<[string, string]> = []
const nobleN = Math.min(nobleSample, ops.length)
const nobleRaw = verifyRate(nobleVerifier, nobleN)
const nobleIngest = (await ingestRate(nobleVerifier, nobleN)).rate
let nativeRaw = 0
let nativeIngest = 0
let pooledIngest = 0
let poolName = ''
let reference = ''
if (native !== undefined) {
  verifyRate(native, Math.min(5_000, ops.length)) // warm-up
  nativeRaw = verifyRate(native, ops.length)
  const run = await ingestRate(native, ops.length)
  nativeIngest = run.rate
  reference = run.ledger.stateHash()
  const pool = await VerifierPool.start()
  if (pool !== undefined) {
    poolName = pool.name
    const pooled = await ingestRate(native, ops.length, pool)
    pooledIngest = pooled.rate
    if (pooled.ledger.stateHash() !== reference) throw new Error('pooled ingest disagrees')
    await pool.close()
  }
}

// 4. Heap per op held: the ledger state alone, and the ledger with its in-memory storage.
async function heapPerOp (): Promise<{ state: number, ledger: number }> {
  gc!(); gc!()
  let before = process.memoryUsage().heapUsed
  let state: LedgerState | undefined = new LedgerState(decodeOp(island.genesis))
  for (const b of ops) state.add(decodeOp(b))
  gc!(); gc!()
  const stateBytes = (process.memoryUsage().heapUsed - before) / ops.length
  if (state.pendingCount !== 0) throw new Error('ops left pending')
  state = undefined
  gc!(); gc!()
  before = process.memoryUsage().heapUsed
  let ledger: Ledger | undefined = await Ledger.open({ genesis: island.genesis, verifier: { name: 'trusted', verify: () => true }, storage: new MemoryStorage() })
  for (let i = 0; i < ops.length; i += batchSize) await ledger.applyBatch(ops.slice(i, i + batchSize))
  gc!(); gc!()
  const ledgerBytes = (process.memoryUsage().heapUsed - before) / ops.length
  if (reference !== '' && ledger.stateHash() !== reference) throw new Error('replicas disagree')
  ledger = undefined
  return { state: stateBytes, ledger: ledgerBytes }
}
const heap = await heapPerOp()

rows.push(['history', `${fmt(ops.length)} ops, ${fmt(bytesTotal / ops.length)} bytes/op on the wire: ${[...kinds].map(([k, n]) => `${k} ${fmt(n)}`).join(', ')}`])
rows.push(['raw verify, noble', `${fmt(nobleRaw)} ops/s (first ${fmt(nobleN)} ops)`])
rows.push(['ledger ingest, noble', `${fmt(nobleIngest)} ops/s (first ${fmt(nobleN)} ops) = ${(nobleIngest / nobleRaw * 100).toFixed(0)}% of raw noble verify`])
if (native !== undefined) {
  rows.push(['raw verify, libsecp256k1', `${fmt(nativeRaw)} ops/s (all ${fmt(ops.length)} ops)`])
  rows.push(['ledger ingest, libsecp256k1', `${fmt(nativeIngest)} ops/s (all ${fmt(ops.length)} ops) = ${(nativeIngest / nativeRaw * 100).toFixed(0)}% of raw native verify (target ≥ 60%)`])
  if (pooledIngest > 0) rows.push(['ledger ingest, verifier pool', `${fmt(pooledIngest)} ops/s (all ${fmt(ops.length)} ops, ${poolName}) = ${(pooledIngest / nativeRaw * 100).toFixed(0)}% of one core's raw native verify`])
} else {
  rows.push(['libsecp256k1', 'not available on this platform'])
}
rows.push(['heap per op held, ledger state', `${fmt(heap.state)} bytes`])
rows.push(['heap per op held, ledger + in-memory storage', `${fmt(heap.ledger)} bytes (target ≤ 1,024)`])
const width = Math.max(...rows.map(r => r[0].length))
console.log(`\nMicrogrid ledger benchmark (node ${process.version}, ${process.arch})`)
for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`)
