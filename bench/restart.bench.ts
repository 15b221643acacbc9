/**
 * Restart benchmark: how fast a node holding a big history opens again. A realistic island history
 * is ingested into a Ledger over in-memory storage, a snapshot is taken, and the last ops are stored
 * after it (the journal). Then, measured in one run: the snapshot's size and encode time, a cold
 * `Ledger.open` from that storage (snapshot + journal), the same open by a full replay of every op
 * (the snapshot removed), and the heap and array buffers held per op after each.
 *
 *   npm exec -- node --expose-gc bench/restart.bench.ts --ops 1000000 [--journal 5000] [--batch 1000]
 */
import { parseArgs } from 'node:util'
import { decodeOp } from '@microgrid/protocol'
import { encodeSnapshot, Ledger, MemoryStorage, nativeSigner, Snapshot, SNAPSHOT_KEY, stateHash } from '@microgrid/core'
import { Island, seededRandom } from '@microgrid/core/testing'

const { values } = parseArgs({
  options: {
    ops: { type: 'string', default: '100000' },
    journal: { type: 'string', default: '5000' },
    batch: { type: 'string', default: '1000' }
  }
})
const count = Number(values.ops)
const journalOps = Number(values.journal)
const batchSize = Number(values.batch)
if (!Number.isSafeInteger(count) || count < 1_000) throw new RangeError('--ops: expected an integer ≥ 1000')
if (!Number.isSafeInteger(journalOps) || journalOps < 0 || journalOps >= count) throw new RangeError('--journal: expected an integer from 0 to below --ops')
if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new RangeError('--batch: expected a positive integer')

const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error('run with --expose-gc')
/** The V8 heap and the array buffers (typed arrays keep their contents outside the heap). */
const collect = (): number => { gc(); gc(); const m = process.memoryUsage(); return m.heapUsed + m.arrayBuffers }
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')
const ms = (n: number): string => `${n.toFixed(0)} ms`
const log = (s: string): void => { process.stderr.write(s + '\n') }
// Signatures were checked when the ops were made; restarts never verify them again.
const trusted = { name: 'trusted', verify: () => true }

// 1. The history (the same island as bench/ledger.bench.ts); only its ops and state hash are kept.
function generate (): { genesis: Uint8Array, ops: Uint8Array[], reference: string } {
  const start = performance.now()
  const island = new Island({
    seed: 'bench', producers: 40, households: 300, streetLights: 60, residents: 400,
    signerFor: sk => nativeSigner(sk) ?? (() => { throw new Error('the native signer did not load') })()
  })
  island.simulate(count, seededRandom(42))
  log(`generated ${fmt(island.ops.length)} signed ops in ${((performance.now() - start) / 1000).toFixed(1)} s`)
  return { genesis: island.genesis, ops: island.ops, reference: stateHash(island.state) }
}
const { genesis, ops, reference } = generate()
const total = ops.length

// 2. A node's storage: every op stored through the ledger, a snapshot, then the journal.
let t = performance.now()
const storage = new MemoryStorage()
let snapshotBytes = 0
let encodeMs = Number.POSITIVE_INFINITY
{
  const ledger = await Ledger.open({ genesis, storage, verifier: trusted, snapshotEvery: 0 })
  const covered = total - journalOps
  for (let i = 0; i < covered; i += batchSize) await ledger.applyBatch(ops.slice(i, Math.min(i + batchSize, covered)))
  snapshotBytes = await ledger.snapshot()
  for (let run = 0; run < 3; run++) {
    collect()
    const start = performance.now()
    encodeSnapshot(ledger.state)
    encodeMs = Math.min(encodeMs, performance.now() - start)
  }
  for (let i = covered; i < total; i += batchSize) await ledger.applyBatch(ops.slice(i, i + batchSize))
  if (ledger.stateHash() !== reference) throw new Error('the ingesting ledger disagrees with the island')
  if (ledger.state.pendingCount !== 0) throw new Error('ops left pending')
}
log(`ingested and snapshotted in ${((performance.now() - t) / 1000).toFixed(1)} s`)
ops.length = 0 // the storage holds them now

// 3. Cold open from the snapshot and journal: the first decode of this process.
let before = collect()
const storageHeap = before
t = performance.now()
let fromSnapshot: Ledger | undefined = await Ledger.open({ storage, verifier: trusted, snapshotEvery: 0 })
const openMs = performance.now() - t
if (fromSnapshot.lastLoad.from !== 'snapshot') throw new Error(`did not open from the snapshot: ${fromSnapshot.lastLoad.snapshotRefused ?? ''}`)
if (fromSnapshot.stateHash() !== reference) throw new Error('the ledger opened from the snapshot disagrees')
const journalDecoded = fromSnapshot.lastLoad.decoded
const snapshotHeap = (collect() - before) / total
fromSnapshot = undefined

// Its parts, warm: checksum, restore, and the storage read.
const g = decodeOp(genesis)
let loadMs = Number.POSITIVE_INFINITY
let checkMs = Number.POSITIVE_INFINITY
let restoreMs = Number.POSITIVE_INFINITY
for (let run = 0; run < 3; run++) {
  collect()
  let s = performance.now()
  const bytes = (await storage.load(SNAPSHOT_KEY))!
  loadMs = Math.min(loadMs, performance.now() - s)
  collect()
  s = performance.now()
  const snapshot = Snapshot.open(bytes)
  checkMs = Math.min(checkMs, performance.now() - s)
  collect()
  s = performance.now()
  snapshot.restore(g, { opAt: () => undefined })
  restoreMs = Math.min(restoreMs, performance.now() - s)
}

// 4. The same storage without its snapshot: a full replay of every op.
await storage.remove(SNAPSHOT_KEY)
before = collect()
t = performance.now()
let replayed: Ledger | undefined = await Ledger.open({ storage, verifier: trusted, snapshotEvery: 0 })
const replayMs = performance.now() - t
if (replayed.lastLoad.from !== 'replay') throw new Error('expected a full replay')
if (replayed.stateHash() !== reference) throw new Error('the replayed ledger disagrees')
const replayHeap = (collect() - before) / total
replayed = undefined

const rows: Array<[string, string]> = [
  ['ops', fmt(total)],
  ['snapshot size', `${fmt(snapshotBytes)} bytes (${(snapshotBytes / total).toFixed(1)} bytes/op)`],
  ['snapshot encode', ms(encodeMs)],
  ['cold open, snapshot + journal', `${ms(openMs)} (journal of ${fmt(journalOps)} ops, ${fmt(journalDecoded)} decoded; target < 3,000 ms at 1,000,000 ops)`],
  ['snapshot alone, warm: storage read', ms(loadMs)],
  ['  checksum and header', ms(checkMs)],
  ['  restore', `${ms(restoreMs)} (decode target ≤ 1,000 ms at 1,000,000 ops)`],
  ['full replay of every op', `${ms(replayMs)} (${(replayMs / openMs).toFixed(1)}× the snapshot open)`],
  ['heap + array buffers before open (in-memory storage)', `${fmt(storageHeap / 1e6)} MB`],
  ['heap + array buffers per op after open, snapshot', `${fmt(snapshotHeap)} bytes`],
  ['heap + array buffers per op after open, replay', `${fmt(replayHeap)} bytes`]
]
const width = Math.max(...rows.map(r => r[0].length))
console.log(`\nMicrogrid restart benchmark (node ${process.version}, ${process.arch})`)
for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`)
