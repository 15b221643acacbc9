/**
 * Ledger benchmark: a realistic island history of signed ops, then, measured side by side in one run,
 * the raw verify rate of each verifier, the ledger's ingest rate with each, their ratio, and the heap
 * held per op. The native figures are measured in rounds, interleaved batch by batch (raw verify,
 * ingest inline, ingest with the verifier pool, each ingest on fresh ledgers), and each ingest is
 * compared with the raw verify of its own round: on a shared machine only figures measured side by
 * side compare. Run with `npm run bench` (`--ops N` to change the history size, default 100,000;
 * `--rounds N`, default 5; `--workers N`, the pool's threads, default 2).
 */
import { parseArgs } from 'node:util'
import { decodeOp, nobleVerifier, type SignatureVerifier } from '@microgrid/protocol'
import { Ledger, LedgerState, MemoryStorage, VerifierPool, nativeSigner, nativeVerifier } from '@microgrid/core'
import { Island, seededRandom } from '@microgrid/core/testing'

const { values } = parseArgs({
  options: {
    ops: { type: 'string', default: '100000' },
    'noble-sample': { type: 'string', default: '4000' },
    batch: { type: 'string', default: '500' },
    rounds: { type: 'string', default: '5' },
    workers: { type: 'string', default: '2' }
  }
})
const count = Number(values.ops)
const nobleSample = Number(values['noble-sample'])
const batchSize = Number(values.batch)
const rounds = Number(values.rounds)
const workers = Number(values.workers)
if (!Number.isSafeInteger(count) || count < 1_000) throw new RangeError('--ops: expected an integer ≥ 1000')
if (!Number.isSafeInteger(nobleSample) || nobleSample < 100) throw new RangeError('--noble-sample: expected an integer ≥ 100')
if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new RangeError('--batch: expected a positive integer')
if (!Number.isSafeInteger(rounds) || rounds < 1) throw new RangeError('--rounds: expected a positive integer')
if (!Number.isSafeInteger(workers) || workers < 1) throw new RangeError('--workers: expected a positive integer')

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
// What a raw verify needs of each op, packed (signature, id, key): 13 MB off the heap, so the heap the
// ingest works with holds no decoded copy of the history.
const sigs = new Uint8Array(ops.length * 64)
const digests = new Uint8Array(ops.length * 32)
const keys = new Uint8Array(ops.length * 33)
ops.forEach((b, i) => {
  const d = decodeOp(b)
  kinds.set(d.op.kind, (kinds.get(d.op.kind) ?? 0) + 1)
  sigs.set(d.op.sig, i * 64)
  digests.set(d.id, i * 32)
  keys.set(d.op.author, i * 33)
})
const bytesTotal = ops.reduce((s, b) => s + b.length, 0)

// 2. Raw verify: signature checks only, of ops already decoded.
function verifyRange (verifier: SignatureVerifier, from: number, to: number): void {
  for (let i = from; i < to; i++) {
    if (!verifier.verify(sigs.subarray(i * 64, i * 64 + 64), digests.subarray(i * 32, i * 32 + 32), keys.subarray(i * 33, i * 33 + 33))) throw new Error('a valid signature failed')
  }
}
function verifyRate (verifier: SignatureVerifier, n: number): number {
  const start = performance.now()
  verifyRange(verifier, 0, n)
  return n / ((performance.now() - start) / 1000)
}

// 3. Ingest: wire bytes -> decode -> verify -> rules -> stored, through Ledger.applyBatch.
async function ingest (ledger: Ledger, from: number, to: number): Promise<void> {
  for (const r of await ledger.applyBatch(ops.slice(from, to))) {
    if (r.status !== 'applied') throw new Error(`op not applied: ${r.status}`)
  }
}
async function ingestRate (verifier: SignatureVerifier, n: number): Promise<number> {
  const ledger = await Ledger.open({ genesis: island.genesis, verifier, storage: new MemoryStorage() })
  const start = performance.now()
  for (let i = 0; i < n; i += batchSize) await ingest(ledger, i, Math.min(n, i + batchSize))
  return n / ((performance.now() - start) / 1000)
}

const rows: Array<[string, string]> = []
const nobleN = Math.min(nobleSample, ops.length)
const nobleRaw = verifyRate(nobleVerifier, nobleN)
const nobleIngest = await ingestRate(nobleVerifier, nobleN)
const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 === 1 ? s[m] as number : ((s[m - 1] as number) + (s[m] as number)) / 2 }
const pct = (x: number): string => `${(x * 100).toFixed(0)}%`
/**
 * Per round (ops/s): raw native verify, ingest inline, ingest with the pool, interleaved batch by
 * batch — each batch is verified raw, then applied to a fresh ledger verifying inline and to another
 * verifying in the pool, in an order that rotates — so a change in the machine's load falls on all
 * three alike.
 */
const measured: Array<{ raw: number, inline: number, pooled: number, piped2: number, piped4: number }> = []
/**
 * The pool as a sync uses it: each batch handed to `applyBatch` before those before it are decided,
 * `depth` of them in flight, so the workers verify the next batches while this thread applies the
 * current one. The node's pull keeps 4 in flight (SYNC_IN_FLIGHT in node/src/node.ts); 2 for
 * comparison. Run as its own stretch of each round (its workers would otherwise run beside the raw and
 * inline figures and slow them), before the interleaved stretch in odd rounds and after it in even ones.
 */
async function ingestPipelined (ledger: Ledger, depth: number): Promise<number> {
  const start = performance.now()
  const inFlight: Array<Promise<void>> = []
  for (let i = 0; i < ops.length; i += batchSize) {
    const next = ingest(ledger, i, Math.min(ops.length, i + batchSize))
    next.catch(() => {})
    inFlight.push(next)
    if (inFlight.length >= depth) await inFlight.shift()
  }
  await Promise.all(inFlight)
  return performance.now() - start
}
let poolName = ''
let reference = ''
if (native !== undefined) {
  verifyRate(native, Math.min(5_000, ops.length)) // warm-up
  const pool = await VerifierPool.start({ workers })
  if (pool !== undefined) poolName = pool.name
  for (let round = 0; round < rounds; round++) {
    gc(); gc()
    const inline = await Ledger.open({ genesis: island.genesis, verifier: native, storage: new MemoryStorage() })
    const pooled = pool !== undefined ? await Ledger.open({ genesis: island.genesis, verifier: native, batchVerifier: pool, storage: new MemoryStorage() }) : undefined
    const ms = [0, 0, 0]
    const piped2 = pool !== undefined ? await Ledger.open({ genesis: island.genesis, verifier: native, batchVerifier: pool, storage: new MemoryStorage() }) : undefined
    const piped4 = pool !== undefined ? await Ledger.open({ genesis: island.genesis, verifier: native, batchVerifier: pool, storage: new MemoryStorage() }) : undefined
    let piped2Ms = 0
    let piped4Ms = 0
    const pipelined = async (): Promise<void> => {
      if (piped2 === undefined || piped4 === undefined) return
      piped4Ms = await ingestPipelined(piped4, 4)
      piped2Ms = await ingestPipelined(piped2, 2)
    }
    if (round % 2 === 0) await pipelined()
    for (let b = 0, i = 0; i < ops.length; b++, i += batchSize) {
      const end = Math.min(ops.length, i + batchSize)
      for (let k = 0; k < 3; k++) {
        const step = (b + k) % 3
        const start = performance.now()
        if (step === 0) verifyRange(native, i, end)
        else if (step === 1) await ingest(inline, i, end)
        else if (pooled !== undefined) await ingest(pooled, i, end)
        ms[step] = (ms[step] as number) + performance.now() - start
      }
    }
    if (round % 2 === 1) await pipelined()
    const hash = inline.stateHash()
    if (reference === '') reference = hash
    else if (hash !== reference) throw new Error('ingest rounds disagree')
    if (pooled !== undefined && pooled.stateHash() !== reference) throw new Error('pooled ingest disagrees')
    for (const p of [piped2, piped4]) if (p !== undefined && p.stateHash() !== reference) throw new Error('pipelined pooled ingest disagrees')
    const rate = (t: number): number => t > 0 ? ops.length / (t / 1000) : 0
    const m = { raw: rate(ms[0] as number), inline: rate(ms[1] as number), pooled: rate(ms[2] as number), piped2: rate(piped2Ms), piped4: rate(piped4Ms) }
    measured.push(m)
    log(`round ${round + 1}: raw ${fmt(m.raw)} ops/s, inline ${fmt(m.inline)} ops/s (${pct(m.inline / m.raw)}), pool ${fmt(m.pooled)} ops/s (${pct(m.pooled / m.raw)}), two in flight ${fmt(m.piped2)} ops/s (${pct(m.piped2 / m.raw)}), four in flight ${fmt(m.piped4)} ops/s (${pct(m.piped4 / m.raw)})`)
  }
  await pool?.close()
}

// 4. Memory per op held: the ledger state alone, and the ledger with its in-memory storage. The V8
// heap as before, and the heap with array buffers (typed arrays keep their contents outside the heap:
// the state's columns and the stored op bytes).
interface Held { heap: number, total: number }
function usage (): Held {
  gc!(); gc!()
  const m = process.memoryUsage()
  return { heap: m.heapUsed, total: m.heapUsed + m.arrayBuffers }
}
const perOp = (a: Held, b: Held): Held => ({ heap: (b.heap - a.heap) / ops.length, total: (b.total - a.total) / ops.length })
async function heapPerOp (): Promise<{ state: Held, ledger: Held }> {
  let before = usage()
  let state: LedgerState | undefined = new LedgerState(decodeOp(island.genesis))
  for (const b of ops) state.add(decodeOp(b))
  const stateBytes = perOp(before, usage())
  if (state.pendingCount !== 0) throw new Error('ops left pending')
  state = undefined
  before = usage()
  let ledger: Ledger | undefined = await Ledger.open({ genesis: island.genesis, verifier: { name: 'trusted', verify: () => true }, storage: new MemoryStorage() })
  for (let i = 0; i < ops.length; i += batchSize) await ledger.applyBatch(ops.slice(i, i + batchSize))
  const ledgerBytes = perOp(before, usage())
  if (reference !== '' && ledger.stateHash() !== reference) throw new Error('replicas disagree')
  ledger = undefined
  return { state: stateBytes, ledger: ledgerBytes }
}
const heap = await heapPerOp()

rows.push(['history', `${fmt(ops.length)} ops, ${fmt(bytesTotal / ops.length)} bytes/op on the wire: ${[...kinds].map(([k, n]) => `${k} ${fmt(n)}`).join(', ')}`])
rows.push(['raw verify, noble', `${fmt(nobleRaw)} ops/s (first ${fmt(nobleN)} ops)`])
rows.push(['ledger ingest, noble', `${fmt(nobleIngest)} ops/s (first ${fmt(nobleN)} ops) = ${(nobleIngest / nobleRaw * 100).toFixed(0)}% of raw noble verify`])
if (native !== undefined) {
  measured.forEach((m, i) => {
    rows.push([`round ${i + 1}`, `raw verify ${fmt(m.raw)} ops/s; ingest inline ${fmt(m.inline)} ops/s = ${pct(m.inline / m.raw)}` +
      (m.pooled > 0 ? `; ingest pooled ${fmt(m.pooled)} ops/s = ${pct(m.pooled / m.raw)}; two in flight ${fmt(m.piped2)} ops/s = ${pct(m.piped2 / m.raw)}; four ${fmt(m.piped4)} ops/s = ${pct(m.piped4 / m.raw)}` : '')])
  })
  rows.push(['raw verify, libsecp256k1', `median ${fmt(median(measured.map(m => m.raw)))} ops/s (all ${fmt(ops.length)} ops, ${rounds} rounds)`])
  rows.push(['ledger ingest, libsecp256k1 inline', `median ${fmt(median(measured.map(m => m.inline)))} ops/s; median ratio ${pct(median(measured.map(m => m.inline / m.raw)))} of raw native verify in the same round (target ≥ 70%)`])
  if (poolName !== '') {
    rows.push(['ledger ingest, verifier pool, one batch at a time', `median ${fmt(median(measured.map(m => m.pooled)))} ops/s (${poolName}); median ratio ${pct(median(measured.map(m => m.pooled / m.raw)))} of one core's raw native verify in the same round`])
    rows.push(['ledger ingest, verifier pool, two batches in flight', `median ${fmt(median(measured.map(m => m.piped2)))} ops/s (${poolName}); median ratio ${pct(median(measured.map(m => m.piped2 / m.raw)))} of one core's raw native verify in the same round`])
    rows.push(['ledger ingest, verifier pool, four in flight (a node\'s sync)', `median ${fmt(median(measured.map(m => m.piped4)))} ops/s (${poolName}); median ratio ${pct(median(measured.map(m => m.piped4 / m.raw)))} of one core's raw native verify in the same round (target ≥ 120%)`])
  }
} else {
  rows.push(['libsecp256k1', 'not available on this platform'])
}
rows.push(['heap per op held, ledger state', `${fmt(heap.state.heap)} bytes; with array buffers ${fmt(heap.state.total)} bytes`])
rows.push(['heap per op held, ledger + in-memory storage', `${fmt(heap.ledger.heap)} bytes (target ≤ 1,024); with array buffers (the op bytes too) ${fmt(heap.ledger.total)} bytes`])
const width = Math.max(...rows.map(r => r[0].length))
console.log(`\nMicrogrid ledger benchmark (node ${process.version}, ${process.arch})`)
for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`)
