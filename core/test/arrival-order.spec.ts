/**
 * Arrival order over forked histories: the ledger's promise, checked from the outside. Two replicas
 * holding the same ops hold the same state (`stateHash()`), whatever order and batches the ops arrived
 * in, with snapshots and reopens in between; and that state follows docs/LEDGER.md ("Equivocation"):
 * along each chain the lowest id among the ops naming the surviving op as prev survives, an author is
 * frozen from its first fork no registrar's `unfreeze` lifted (the op at the fork applies, none above),
 * an unfreeze counts once the registrar's op applies (wherever it arrived from: a batch, the pending
 * set, the journal at open) and never when it stands above its registrar's own fork, and an op waits
 * until its prev and every position it names in deps are applied.
 *
 * Only the public API is used: `Ledger`, `MemoryStorage`, `cachingVerifier(defaultVerifier())`, the
 * `Island` simulator and hand-signed ops. Histories: an island runs `simulate`, then forks are signed
 * here (a conflicting op at a seq below an account's head, with the same prev as the op it conflicts
 * with, sometimes two, sometimes continued by more ops on its branch: a losing branch of two or more
 * ops), with registrar unfreezes for some forks, sometimes twice, sometimes much later; in half the
 * histories the registrar itself forks and then signs unfreezes above its fork (which must not count).
 * The model of what survives (`expectedChains`) reads only the set of ops: it is the oracle every
 * replica is compared to, besides the other replicas.
 *
 * Properties (fast-check):
 *   a-b. Every op in a random permutation (one delivery in five: in reverse chain order, so every
 *        dependency arrives last), in batches of 1..50, with random `snapshot()` calls and reopens of
 *        the same storage between batches (and automatic snapshots every 10 ops in some runs): the
 *        final state equals that of a replica given every op in one batch, and of one given them in
 *        chain order one by one; all three show the model's chains; supply holds after every batch.
 *   c.   Reopening at the end gives the state before closing: as left, after a final snapshot, and
 *        by replaying every op (a replica that never snapshotted).
 * Runs: `PROPERTY_RUNS` histories for a-b (default 40), a quarter of that for c (about 30 s for the
 * whole file on a 2-core machine). Written against a ledger with three arrival-order bugs, each of
 * them failed about one run in five of a-b, so the default runs miss none of them in practice. A longer
 * hunt:
 *   PROPERTY_RUNS=2000 npm exec -- vitest run core/test/arrival-order.spec.ts
 * The seed is printed at start and in every failure; `PROPERTY_SEED=<seed> PROPERTY_RUNS=<runs>`
 * replays the same runs (property c uses the seed + 1, so its histories differ from a-b's). Once a
 * property fails, fast-check shrinks the counterexample for at most `PROPERTY_SHRINK_MS` (default
 * 10,000 ms) and reports the smallest one found.
 *
 * Named scenarios 1-3 below each show one of those bugs on its own, without randomness. All of this
 * was written before the ledger fix, to fail on the ledger as it was.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import {
  decodeOp, PROTOCOL_VERSION, signOp,
  type BodyOf, type DecodedOp, type OpId, type OpKind, type OpSigner, type PublicKey, type UnsignedOp
} from '@microgrid/protocol'
import { cachingVerifier, defaultVerifier, Ledger, MemoryStorage, type IngestResult } from '@microgrid/core'
import { Island, seededRandom } from '@microgrid/core/testing'

const SEED = process.env.PROPERTY_SEED !== undefined ? Number(process.env.PROPERTY_SEED) : Math.floor(Math.random() * 2 ** 31)
const RUNS = process.env.PROPERTY_RUNS !== undefined ? Number(process.env.PROPERTY_RUNS) : 40
const SHRINK_MS = process.env.PROPERTY_SHRINK_MS !== undefined ? Number(process.env.PROPERTY_SHRINK_MS) : 10_000
fc.configureGlobal({ seed: SEED })

/** Signatures are checked once per op for the whole file: the same ops reach many replicas. */
const verifier = cachingVerifier(defaultVerifier())

beforeAll(() => {
  console.info(`arrival-order.spec.ts: PROPERTY_SEED=${SEED} PROPERTY_RUNS=${RUNS} (set both to replay)`)
})

// ---------------------------------------------------------------------------------------------------
// Bytes

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')

/** Ids compared bytewise: the lower id survives a fork. */
function compareIds (a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const d = (a[i] as number) - (b[i] as number)
    if (d !== 0) return d
  }
  return a.length - b.length
}

// ---------------------------------------------------------------------------------------------------
// Signing forks

type Role = 'resident' | 'producer' | 'generation-meter' | 'device' | 'registrar'
interface Account { signer: OpSigner, role: Role, name: string }

/** Every key of the island that signs ops, by hex, with a readable name. */
function namesOf (island: Island): Map<string, string> {
  const names = new Map<string, string>([
    [hex(island.registrar.publicKey), 'registrar'], [hex(island.oracle.publicKey), 'oracle'], [hex(island.utility.publicKey), 'utility']
  ])
  for (const a of accountsOf(island)) names.set(hex(a.signer.publicKey), a.name)
  return names
}

/** The accounts a fork may be made in (the registrar's forks are made on their own). */
function accountsOf (island: Island): Account[] {
  return [
    ...island.residents.map((signer, i): Account => ({ signer, role: 'resident', name: `resident-${i}` })),
    ...island.producers.flatMap((p, i): Account[] => [
      { signer: p.account, role: 'producer', name: `producer-${i}` },
      { signer: p.meter, role: 'generation-meter', name: `producer-${i}/meter` }
    ]),
    ...island.devices.map((d, i): Account => ({ signer: d.meter, role: 'device', name: `device-${i}` }))
  ]
}

function registrarOf (island: Island): Account {
  return { signer: island.registrar, role: 'registrar', name: 'registrar' }
}

/** Signs an op at a chosen position, with a chosen prev and no deps: what an equivocating signer does. */
function signAt<K extends OpKind> (island: Island, signer: OpSigner, seq: number, prev: OpId, kind: K, body: BodyOf[K], ts: number): DecodedOp {
  const op = { v: PROTOCOL_VERSION, grid: decoded(island.genesis).id, kind, author: signer.publicKey, seq, prev, deps: [], ts, body }
  return decoded(signOp(op as unknown as UnsignedOp, signer).bytes)
}

/** Decoded once per op: histories are read many times. */
const decodedCache = new WeakMap<Uint8Array, DecodedOp>()
function decoded (bytes: Uint8Array): DecodedOp {
  let d = decodedCache.get(bytes)
  if (d === undefined) decodedCache.set(bytes, d = decodeOp(bytes))
  return d
}

/** The island's own op at (author, seq), from its list of ops. */
function originalAt (island: Island, author: PublicKey, seq: number): DecodedOp | undefined {
  const chain = island.state.chain(author)
  if (seq >= chain.length) return undefined
  const id = hex(chain.idAt(seq))
  for (const bytes of island.ops) {
    const d = decoded(bytes)
    if (d.op.seq === seq && hex(d.id) === id) return d
  }
  return undefined
}

/**
 * A branch of `length` ops from `seq` on, the first one conflicting with the island's op at `seq`
 * (same prev, its ts + `k` ms, another body), each next one naming the one before as prev. Bodies are
 * what the role would plausibly sign: a resident funds a device, a producer sets prices, a meter
 * mints or burns 1 Wh more per `k` with a matching reading, the registrar registers a device.
 */
function signBranch (island: Island, account: Account, seq: number, k: number, length: number): DecodedOp[] {
  const author = account.signer.publicKey
  const original = originalAt(island, author, seq)
  if (original === undefined) throw new Error(`${account.name} has no op at ${seq}`)
  let reading = original.op.kind === 'mint' || original.op.kind === 'burn' ? original.op.body.total - original.op.body.wh : 0
  let prev: OpId = island.state.chain(author).idAt(seq - 1).slice()
  const out: DecodedOp[] = []
  for (let i = 0; i < length; i++) {
    const ts = original.op.ts + k + 1_000 * i
    let d: DecodedOp
    switch (account.role) {
      case 'resident': {
        const device = island.devices[(k + i) % island.devices.length]
        if (device === undefined) throw new Error('no device to fund')
        d = signAt(island, account.signer, seq + i, prev, 'transfer', { contract: 'resident', to: device.meter.publicKey, wh: 1 + k + i, receipt: null, window: null }, ts)
        break
      }
      case 'producer':
        d = signAt(island, account.signer, seq + i, prev, 'price', { wholesale: 8_000 + 10 * k + i, retail: 12_000 + 10 * k + i }, ts)
        break
      case 'generation-meter':
        reading += k
        d = signAt(island, account.signer, seq + i, prev, 'mint', { wh: k, total: reading }, ts)
        break
      case 'device':
        reading += k
        d = signAt(island, account.signer, seq + i, prev, 'burn', { wh: k, total: reading }, ts)
        break
      case 'registrar': {
        const meter = island.signer(`fork-device-${seq + i}-${k}`).publicKey
        d = signAt(island, account.signer, seq + i, prev, 'register', { role: 'consumer', meter, label: `fork device ${seq + i}/${k}`, category: 'household', position: null }, ts)
        break
      }
    }
    out.push(d)
    prev = d.id
  }
  return out
}

interface Fork {
  account: Account
  seq: number
  /** The island's op at seq, then every op signed here (conflicting ops and their branches). */
  original: DecodedOp
  signed: DecodedOp[]
}

/**
 * Forks `account` at `seq`: `conflicting` ops at seq (the first continued by `branch` more ops),
 * appended to `island.ops` (the history's chain order is the order things were signed). `firstK`
 * picks the variant of the first conflicting op (see `losingK`).
 */
function fork (island: Island, account: Account, seq: number, conflicting: number, branch: number, firstK = 1): Fork {
  const original = originalAt(island, account.signer.publicKey, seq)
  if (original === undefined) throw new Error(`${account.name} has no op at ${seq}`)
  const signed: DecodedOp[] = []
  for (let k = firstK; k < firstK + conflicting; k++) signed.push(...signBranch(island, account, seq, k, k === firstK ? 1 + branch : 1))
  island.ops.push(...signed.map(d => d.bytes))
  return { account, seq, original, signed }
}

/** The smallest k ≥ 1 whose single conflicting op at seq has a higher id than the island's op: the island's branch survives. */
function losingK (island: Island, account: Account, seq: number): number {
  const original = originalAt(island, account.signer.publicKey, seq) as DecodedOp
  for (let k = 1; ; k++) {
    const [d] = signBranch(island, account, seq, k, 1)
    if (compareIds((d as DecodedOp).id, original.id) > 0) return k
  }
}

function unfreeze (island: Island, account: PublicKey, seq: number): DecodedOp {
  const r = island.emit(island.registrar, 'unfreeze', { account, seq })
  if (r.status !== 'applied') throw new Error(`the island's replica did not apply an unfreeze: ${r.status}`)
  return decoded(r.bytes)
}

// ---------------------------------------------------------------------------------------------------
// The model: what every replica must show, from the set of ops alone

interface ExpectedChain {
  key: PublicKey
  /** Ids of the ops that apply (accepted or rejected), seq 0 up. */
  ids: OpId[]
  /** The surviving branch, as far as it goes (ops above `ids` wait or are frozen). */
  survivors: OpId[]
  /** Seqs where two or more ops name the surviving op below as prev. */
  forks: number[]
  /** The first fork no counting unfreeze lifted, if any. */
  frozenFrom: number | null
}

/**
 * docs/LEDGER.md, "Equivocation" and "Chains, positions and the causal past": along a chain, from seq
 * 0 up, the candidates at a seq are the ops whose prev is the surviving op below, and the lowest id
 * survives; a seq with two or more candidates is a fork (ops further on a losing branch belong to that
 * fork: one unfreeze lifts it); the author is frozen from its first fork no counting unfreeze lifted
 * (the op at the fork applies, none above). An unfreeze counts when it applies: signed by a genesis
 * registrar, on its surviving branch and not above the registrar's own unlifted fork (the histories
 * here have no rejected unfreeze). An op applies once its prev and each position it names in deps
 * have applied; otherwise it waits, forever if that position is frozen or missing.
 */
function expectedChains (genesis: DecodedOp, ops: readonly DecodedOp[]): Map<string, ExpectedChain> {
  const registrars = new Set(genesis.op.kind === 'genesis' ? genesis.op.body.registrars.map(hex) : [])
  const byAuthor = new Map<string, { key: PublicKey, slots: Map<number, DecodedOp[]> }>()
  const seen = new Set<string>()
  for (const d of [genesis, ...ops]) {
    if (seen.has(hex(d.id))) continue
    seen.add(hex(d.id))
    const a = hex(d.op.author)
    let entry = byAuthor.get(a)
    if (entry === undefined) byAuthor.set(a, entry = { key: d.op.author, slots: new Map() })
    const slot = entry.slots.get(d.op.seq)
    if (slot === undefined) entry.slots.set(d.op.seq, [d])
    else slot.push(d)
  }
  const branches = new Map<string, { key: PublicKey, survivors: DecodedOp[], forks: number[] }>()
  for (const [a, { key, slots }] of byAuthor) {
    const survivors: DecodedOp[] = []
    const forks: number[] = []
    for (let seq = 0; ; seq++) {
      const below = survivors[seq - 1]
      const candidates = (slots.get(seq) ?? []).filter(d => seq === 0
        ? d.op.prev === null
        : d.op.prev !== null && below !== undefined && compareIds(d.op.prev, below.id) === 0)
      if (candidates.length === 0) break
      if (candidates.length > 1) forks.push(seq)
      survivors.push(candidates.reduce((x, y) => compareIds(x.id, y.id) <= 0 ? x : y))
    }
    branches.set(a, { key, survivors, forks })
  }
  // Pardons and what applies depend on each other (an unfreeze must apply to count); start with no
  // pardon and grow to the least fixed point. Frozen registrars' unfreezes never apply, so never count.
  let pardons = new Set<string>()
  let applied = new Map<string, number>()
  for (let round = 0; round < 100; round++) {
    const frozenFrom = new Map<string, number>()
    for (const [a, b] of branches) {
      const first = b.forks.find(seq => !pardons.has(`${a}:${seq}`))
      if (first !== undefined) frozenFrom.set(a, first)
    }
    applied = new Map([...branches.keys()].map(a => [a, 0]))
    for (let changed = true; changed;) {
      changed = false
      for (const [a, b] of branches) {
        let n = applied.get(a) as number
        const limit = Math.min(b.survivors.length, (frozenFrom.get(a) ?? Number.POSITIVE_INFINITY) + 1)
        while (n < limit) {
          const d = b.survivors[n] as DecodedOp
          if (!d.op.deps.every(([key, seq]) => (applied.get(hex(key)) ?? 0) > seq)) break
          n++
          changed = true
        }
        applied.set(a, n)
      }
    }
    const next = new Set<string>()
    for (const a of registrars) {
      const b = branches.get(a)
      if (b === undefined) continue
      for (const d of b.survivors.slice(0, applied.get(a))) {
        if (d.op.kind === 'unfreeze') next.add(`${hex(d.op.body.account)}:${d.op.body.seq}`)
      }
    }
    if (next.size === pardons.size && [...next].every(p => pardons.has(p))) {
      const out = new Map<string, ExpectedChain>()
      for (const [a, b] of branches) {
        out.set(a, {
          key: b.key,
          ids: b.survivors.slice(0, applied.get(a)).map(d => d.id),
          survivors: b.survivors.map(d => d.id),
          forks: b.forks,
          frozenFrom: frozenFrom.get(a) ?? null
        })
      }
      return out
    }
    pardons = next
  }
  throw new Error('pardons did not settle')
}

/** How a replica's chains differ from the model (empty when they agree). */
function chainsDiffer (ledger: Ledger, expected: ReadonlyMap<string, ExpectedChain>, names: ReadonlyMap<string, string>): string[] {
  const out: string[] = []
  for (const [a, e] of expected) {
    const chain = ledger.state.chain(e.key)
    const name = names.get(a) ?? a.slice(0, 10)
    const frozen = e.frozenFrom === null ? 'not frozen' : `frozen from ${e.frozenFrom}`
    const forks = e.forks.length === 0 ? '' : `, forks at ${e.forks.join(', ')}, ${frozen}`
    if (chain.length !== e.ids.length) {
      out.push(`${name}: ${chain.length} ops applied, expected ${e.ids.length} (surviving branch ${e.survivors.length}${forks})`)
      continue
    }
    for (let seq = 0; seq < e.ids.length; seq++) {
      if (hex(chain.idAt(seq)) !== hex(e.ids[seq] as OpId)) {
        out.push(`${name}: another op stands at seq ${seq} than the surviving one${forks}`)
        break
      }
    }
  }
  return out
}

// ---------------------------------------------------------------------------------------------------
// Replicas

interface Replica {
  ledger: Ledger
  storage: MemoryStorage
  snapshotEvery: number
}

async function replica (genesis: Uint8Array, snapshotEvery = 0, storage = new MemoryStorage()): Promise<Replica> {
  return { ledger: await Ledger.open({ genesis, storage, verifier, snapshotEvery }), storage, snapshotEvery }
}

/** Closes (drops) the ledger and opens the same storage again. */
async function reopen (genesis: Uint8Array, r: Replica): Promise<Replica> {
  return { ...r, ledger: await Ledger.open({ genesis, storage: r.storage, verifier, snapshotEvery: r.snapshotEvery }) }
}

/** Supply and sign: minted − burned is the sum of all balances, and no balance is negative. */
function supplyProblems (ledger: Ledger, when: string): string[] {
  const s = ledger.state
  let sum = 0
  const out: string[] = []
  for (const c of s.chains) {
    sum += c.balance
    if (c.balance < 0) out.push(`${when}: balance of ${hex(c.key).slice(0, 10)} is ${c.balance}`)
  }
  if (s.minted - s.burned !== sum) out.push(`${when}: minted ${s.minted} − burned ${s.burned} ≠ Σ balances ${sum}`)
  return out
}

async function feed (r: Replica, batches: ReadonlyArray<readonly Uint8Array[]>): Promise<IngestResult[][]> {
  const out: IngestResult[][] = []
  for (const batch of batches) {
    const results = await r.ledger.applyBatch(batch)
    for (const res of results) if (res.status === 'invalid') throw new Error(`an op was refused: ${res.error.message}`)
    out.push(results)
    expect(supplyProblems(r.ledger, 'after a batch')).toEqual([])
  }
  return out
}

/** A replica fed the history in chain order (the order signed), one op per batch, never snapshotting. */
async function chainOrder (genesis: Uint8Array, ops: readonly Uint8Array[]): Promise<Replica> {
  const r = await replica(genesis)
  await feed(r, ops.map(b => [b]))
  return r
}

async function oneBatch (genesis: Uint8Array, ops: readonly Uint8Array[]): Promise<Replica> {
  const r = await replica(genesis)
  await feed(r, [ops])
  return r
}

function shuffled<T> (items: readonly T[], seed: number): T[] {
  const out = items.slice()
  const random = seededRandom(seed)
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const t = out[i] as T
    out[i] = out[j] as T
    out[j] = t
  }
  return out
}

const idOf = (bytes: Uint8Array): string => hex(decoded(bytes).id)
const without = (ops: readonly Uint8Array[], ...held: ReadonlyArray<DecodedOp | Uint8Array>): Uint8Array[] => {
  const ids = new Set(held.map(h => h instanceof Uint8Array ? idOf(h) : hex(h.id)))
  return ops.filter(b => !ids.has(idOf(b)))
}

// ---------------------------------------------------------------------------------------------------
// Random forked histories

interface ForkSpec {
  /** Which account (among those with two ops or more, not forked yet). */
  who: number
  /** Where below its head, per mille of its length. */
  where: number
  /** Conflicting ops at the seq. */
  conflicting: number
  /** More ops on the first conflicting op's branch. */
  branch: number
  /** Registrar unfreezes for this fork, signed now or after more history. */
  unfreezes: number
  late: boolean
  /** Ops the island signs before this fork. */
  gap: number
}

interface RegistrarForkSpec {
  /** How far below the registrar's head it forks. */
  back: number
  branch: number
  /** Whether the island's branch (with the unfreezes signed after the fork) is made to survive. */
  islandSurvives: boolean
  /** Unfreezes the registrar signs after its fork: of its own fork, of the other forks. */
  ownUnfreeze: boolean
  otherUnfreezes: boolean
  /** Ops the island signs after (they may name the registrar's frozen positions and wait). */
  tail: number
}

interface HistorySpec {
  seed: number
  producers: number
  households: number
  streetLights: number
  residents: number
  ops: number
  forks: ForkSpec[]
  tail: number
  registrar: RegistrarForkSpec | null
}

const forkSpec: fc.Arbitrary<ForkSpec> = fc.record({
  who: fc.nat({ max: 1_000 }),
  where: fc.nat({ max: 999 }),
  conflicting: fc.integer({ min: 1, max: 2 }),
  branch: fc.integer({ min: 0, max: 2 }),
  unfreezes: fc.constantFrom(0, 1, 1, 2),
  late: fc.boolean(),
  gap: fc.integer({ min: 0, max: 30 })
})

const registrarForkSpec: fc.Arbitrary<RegistrarForkSpec> = fc.record({
  back: fc.integer({ min: 0, max: 2 }),
  branch: fc.integer({ min: 0, max: 1 }),
  islandSurvives: fc.boolean(),
  ownUnfreeze: fc.boolean(),
  otherUnfreezes: fc.boolean(),
  tail: fc.integer({ min: 0, max: 10 })
})

const historySpec: fc.Arbitrary<HistorySpec> = fc.record({
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  producers: fc.integer({ min: 1, max: 2 }),
  households: fc.integer({ min: 1, max: 3 }),
  streetLights: fc.integer({ min: 0, max: 1 }),
  residents: fc.integer({ min: 1, max: 3 }),
  ops: fc.integer({ min: 40, max: 120 }),
  forks: fc.array(forkSpec, { minLength: 1, maxLength: 4 }),
  tail: fc.integer({ min: 0, max: 30 }),
  registrar: fc.oneof(fc.constant(null), registrarForkSpec)
})

interface History {
  island: Island
  genesis: DecodedOp
  /** Every op after the genesis, in the order signed (chain order). */
  ops: Uint8Array[]
  expected: Map<string, ExpectedChain>
  names: Map<string, string>
}

function buildHistory (spec: HistorySpec): History {
  const island = new Island({ seed: `arrival-${spec.seed}`, producers: spec.producers, households: spec.households, streetLights: spec.streetLights, residents: spec.residents })
  const random = seededRandom(spec.seed)
  island.simulate(spec.ops, random)
  const forks: Fork[] = []
  const forked = new Set<string>()
  let later: Array<[PublicKey, number]> = []
  for (const f of spec.forks) {
    island.simulate(island.ops.length + f.gap, random)
    for (const [account, seq] of later) unfreeze(island, account, seq)
    later = []
    // An account whose ops at s - 1 and s are both in the history, not forked yet.
    const candidates = accountsOf(island).filter(a => !forked.has(hex(a.signer.publicKey)) && island.state.chain(a.signer.publicKey).length >= 2)
    if (candidates.length === 0) continue
    const account = candidates[f.who % candidates.length] as Account
    const length = island.state.chain(account.signer.publicKey).length
    const seq = 1 + Math.floor(f.where * (length - 1) / 1_000)
    if (originalAt(island, account.signer.publicKey, seq) === undefined || originalAt(island, account.signer.publicKey, seq - 1) === undefined) continue
    forks.push(fork(island, account, seq, f.conflicting, f.branch))
    forked.add(hex(account.signer.publicKey))
    for (let u = 0; u < f.unfreezes; u++) {
      if (f.late) later.push([account.signer.publicKey, seq])
      else unfreeze(island, account.signer.publicKey, seq)
    }
  }
  island.simulate(island.ops.length + spec.tail, random)
  for (const [account, seq] of later) unfreeze(island, account, seq)
  if (spec.registrar !== null) {
    const r = spec.registrar
    const registrar = registrarOf(island)
    const length = island.state.chain(island.registrar.publicKey).length
    const seq = Math.max(1, length - 1 - r.back)
    fork(island, registrar, seq, 1, r.branch, r.islandSurvives ? losingK(island, registrar, seq) : 1)
    if (r.ownUnfreeze) unfreeze(island, island.registrar.publicKey, seq)
    if (r.otherUnfreezes) for (const f of forks) unfreeze(island, f.account.signer.publicKey, f.seq)
    island.simulate(island.ops.length + r.tail, random)
  }
  const genesis = decoded(island.genesis)
  const ops = island.ops.slice()
  return { island, genesis, ops, expected: expectedChains(genesis, ops.map(decoded)), names: namesOf(island) }
}

type Pause = 'none' | 'snapshot' | 'reopen' | 'snapshot+reopen'
interface Delivery {
  /** A random permutation of every op (from this seed), or every op in reverse chain order. */
  order: { shuffle: number } | 'reverse'
  steps: Array<{ size: number, then: Pause }>
  snapshotEvery: number
}

const delivery: fc.Arbitrary<Delivery> = fc.record({
  order: fc.oneof(
    { weight: 4, arbitrary: fc.integer().map(shuffle => ({ shuffle })) },
    { weight: 1, arbitrary: fc.constant<'reverse'>('reverse') }
  ),
  steps: fc.array(fc.record({
    size: fc.integer({ min: 1, max: 50 }),
    then: fc.constantFrom<Pause>('none', 'none', 'none', 'snapshot', 'reopen', 'snapshot+reopen')
  }), { minLength: 1, maxLength: 20 }),
  snapshotEvery: fc.constantFrom(0, 10, 50_000)
})

function arrival (ops: readonly Uint8Array[], d: Delivery): Uint8Array[] {
  return d.order === 'reverse' ? ops.slice().reverse() : shuffled(ops, d.order.shuffle)
}

/** Feeds `ops` (in the order given) in the delivery's batches, pausing between batches as it says; checks supply after each. */
async function deliver (genesis: Uint8Array, ops: readonly Uint8Array[], d: Delivery): Promise<Replica> {
  let r = await replica(genesis, d.snapshotEvery)
  for (let i = 0, k = 0; i < ops.length; k++) {
    const step = d.steps[k % d.steps.length] as Delivery['steps'][number]
    await feed(r, [ops.slice(i, i + step.size)])
    i += step.size
    if (step.then === 'snapshot' || step.then === 'snapshot+reopen') await r.ledger.snapshot()
    if (step.then === 'reopen' || step.then === 'snapshot+reopen') {
      r = await reopen(genesis, r)
      expect(supplyProblems(r.ledger, 'after a reopen')).toEqual([])
    }
  }
  return r
}

/**
 * Runs the property as given until it first fails; from then on fast-check shrinks the failing
 * values, and once that has taken `SHRINK_MS` every further candidate passes at once, so the
 * smallest counterexample found so far is the one reported. Runs before a failure are never cut.
 */
function capShrinking<A extends unknown[]> (predicate: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  let failedAt: number | undefined
  return async (...args: A) => {
    if (failedAt !== undefined && Date.now() - failedAt > SHRINK_MS) return
    try {
      await predicate(...args)
    } catch (err) {
      failedAt ??= Date.now()
      throw err
    }
  }
}

function describeHistory (h: History): string {
  const forks = [...h.expected.entries()].filter(([, e]) => e.forks.length > 0)
    .map(([a, e]) => `${h.names.get(a) ?? a.slice(0, 10)} forks at ${e.forks.join(', ')} (${e.frozenFrom === null ? 'lifted' : `frozen from ${e.frozenFrom}`}, ${e.ids.length}/${e.survivors.length} surviving ops apply)`)
  return `PROPERTY_SEED=${SEED} PROPERTY_RUNS=${RUNS}; ${h.ops.length} ops; ${forks.join('; ')}`
}

// ---------------------------------------------------------------------------------------------------

/** Property a-b: the final state of a random delivery is that of one batch and of chain order, and the model's. */
async function arrivalOrderProblems (spec: HistorySpec, d: Delivery): Promise<{ h: History, problems: string[] }> {
  const h = buildHistory(spec)
  const genesis = h.genesis.bytes
  const order = arrival(h.ops, d)
  const random = await deliver(genesis, order, d)
  const single = await oneBatch(genesis, order)
  const chained = await chainOrder(genesis, h.ops)
  const problems: string[] = []
  const [x, y, z] = [random, single, chained].map(r => r.ledger.stateHash())
  if (x !== y) problems.push('random order ≠ one batch (stateHash)')
  if (x !== z) problems.push('random order ≠ chain order (stateHash)')
  if (y !== z) problems.push('one batch ≠ chain order (stateHash)')
  for (const [name, r] of [['random order', random], ['one batch', single], ['chain order', chained]] as const) {
    for (const p of chainsDiffer(r.ledger, h.expected, h.names)) problems.push(`${name}: ${p}`)
  }
  return { h, problems }
}

/** Property c: reopening a replica at the end, as left, after a final snapshot, or never snapshotted. */
async function reopenProblems (spec: HistorySpec, d: Delivery): Promise<{ h: History, problems: string[] }> {
  const h = buildHistory(spec)
  const genesis = h.genesis.bytes
  const r = await deliver(genesis, arrival(h.ops, d), d)
  const before = r.ledger.stateHash()
  const problems: string[] = []
  // As it is (a snapshot if the delivery took one, and its journal; else every op replayed).
  const again = await reopen(genesis, r)
  if (again.ledger.stateHash() !== before) problems.push('reopened as left ≠ before closing')
  // After a snapshot of the final state.
  await again.ledger.snapshot()
  const fromSnapshot = await reopen(genesis, again)
  if (fromSnapshot.ledger.stateHash() !== before) problems.push('reopened from a final snapshot ≠ before closing')
  // Never snapshotted: the reopen replays every stored op.
  const plain = await chainOrder(genesis, h.ops)
  const replayed = await reopen(genesis, plain)
  if (replayed.ledger.stateHash() !== plain.ledger.stateHash()) problems.push('chain order, reopened by replaying every op ≠ before closing')
  for (const [name, x] of [['reopened as left', again], ['reopened from a final snapshot', fromSnapshot], ['replayed', replayed]] as const) {
    for (const p of chainsDiffer(x.ledger, h.expected, h.names)) problems.push(`${name}: ${p}`)
  }
  return { h, problems }
}

describe('arrival order over forked histories (properties)', () => {
  it('a-b. any arrival order, batching, snapshots and reopens give the state of one batch and of chain order, and the model\'s chains; supply holds after every batch', async () => {
    await fc.assert(fc.asyncProperty(historySpec, delivery, capShrinking(async (spec: HistorySpec, d: Delivery) => {
      const { h, problems } = await arrivalOrderProblems(spec, d)
      expect(problems, describeHistory(h)).toEqual([])
    })), { numRuns: RUNS })
  }, 600_000)

  it('c. reopening at the end gives the state before closing, from a snapshot or by replaying every op', async () => {
    await fc.assert(fc.asyncProperty(historySpec, delivery, capShrinking(async (spec: HistorySpec, d: Delivery) => {
      const { h, problems } = await reopenProblems(spec, d)
      expect(problems, describeHistory(h)).toEqual([])
    })), { numRuns: Math.max(1, Math.ceil(RUNS / 4)), seed: SEED + 1 })
  }, 600_000)
})

// ---------------------------------------------------------------------------------------------------
// Named scenarios, one bug each, no randomness

/** An island where resident-0 has six ops, 0..5, each funding a household with 1 kWh: all applied. */
function residentIsland (seed: string): { island: Island, resident: Account } {
  const island = new Island({ seed, producers: 1, households: 2, residents: 1 })
  const p = island.producers[0] as Island['producers'][number]
  const r = island.residents[0] as OpSigner
  for (let i = 0; i < 40; i++) island.mint(p)
  expect(island.sellWholesale(p, 320).status).toBe('applied') // 40 kWh to the utility
  expect(island.sellRetail(r, 250).status).toBe('applied') // 20 kWh to the resident
  for (let i = 0; i < 6; i++) expect(island.fund(r, island.devices[i % 2] as Island['devices'][number], 1_000).status).toBe('applied')
  expect(island.state.chain(r.publicKey).length).toBe(6)
  return { island, resident: { signer: r, role: 'resident', name: 'resident-0' } }
}

/** Every op of the history, from the island, in chain order, with the model and names. */
function historyOf (island: Island): History {
  const genesis = decoded(island.genesis)
  const ops = island.ops.slice()
  return { island, genesis, ops, expected: expectedChains(genesis, ops.map(decoded)), names: namesOf(island) }
}

/** Soft checks (every one is reported): the replica's hash equals the reference's, and its chains are the model's. */
function agrees (label: string, r: Replica, reference: Replica, h: History): void {
  expect.soft(r.ledger.stateHash(), `${label}: stateHash equals the chain-order replica's`).toBe(reference.ledger.stateHash())
  expect.soft(chainsDiffer(r.ledger, h.expected, h.names), `${label}: chains as the ops say`).toEqual([])
}

const lengthOf = (r: Replica, a: Account | OpSigner): number => r.ledger.state.chain('signer' in a ? a.signer.publicKey : a.publicKey).length

describe('arrival order over forked histories (named scenarios)', () => {
  it('1. a fork learned before its author\'s earlier ops is decided as in chain order, also after a snapshot and after a reopen', async () => {
    const { island, resident } = residentIsland('arrival-1')
    const key = resident.signer.publicKey
    const f = fork(island, resident, 3, 1, 0)
    const h = historyOf(island)
    const [a3, b3] = [f.original, f.signed[0] as DecodedOp]
    const winner = compareIds(a3.id, b3.id) < 0 ? a3 : b3
    const above = [4, 5].map(seq => originalAt(island, key, seq) as DecodedOp)
    const first = [a3, b3, ...above].map(d => d.bytes)
    const rest = without(h.ops, a3, b3, ...above)
    const genesis = h.genesis.bytes

    const chained = await chainOrder(genesis, h.ops)
    // The model and the chain-order replica: the lower id stands at 3, the resident is frozen above it.
    expect(chainsDiffer(chained.ledger, h.expected, h.names)).toEqual([])
    expect(lengthOf(chained, resident)).toBe(4)
    expect(hex(chained.ledger.state.chain(key).idAt(3))).toBe(hex(winner.id))
    agrees('one batch', await oneBatch(genesis, h.ops), chained, h)

    // The two ops at seq 3 and the ops above them first, then everything else.
    const early = await replica(genesis)
    await feed(early, [first, rest])
    const before = early.ledger.stateHash()
    agrees('fork first', early, chained, h)
    expect.soft(lengthOf(early, resident), 'fork first: the resident\'s ops 0..3 apply').toBe(4)

    // The same, with a snapshot between the two batches.
    const snapped = await replica(genesis)
    await feed(snapped, [first])
    await snapped.ledger.snapshot()
    await feed(snapped, [rest])
    agrees('fork first, snapshot in between', snapped, chained, h)
    agrees('fork first, snapshot in between, reopened', await reopen(genesis, snapped), chained, h)

    // A restart does not change the state: reopened (every stored op replayed), then from a snapshot.
    const reopened = await reopen(genesis, early)
    expect.soft(reopened.ledger.stateHash(), 'fork first, reopened: the state before closing').toBe(before)
    agrees('fork first, reopened', reopened, chained, h)
    await reopened.ledger.snapshot()
    agrees('fork first, snapshot, reopened', await reopen(genesis, reopened), chained, h)
  })

  it('2. an unfreeze counts the same whenever it arrives (pending, from the journal on open), and a frozen registrar\'s own unfreeze does not count', async () => {
    // The resident forks at 3 (its own branch survives: the conflicting op has the higher id), and a
    // registrar lifts the fork; the registrar's op just below the unfreeze registers a late device.
    const { island, resident } = residentIsland('arrival-2')
    const f = fork(island, resident, 3, 1, 0, losingK(island, resident, 3))
    const b3 = f.signed[0] as DecodedOp
    expect(compareIds(f.original.id, b3.id)).toBeLessThan(0)
    const late = decoded(island.must(island.registrar, 'register', { role: 'consumer', meter: island.signer('late-device').publicKey, label: 'late device', category: 'household', position: null }))
    const lift = unfreeze(island, resident.signer.publicKey, 3)
    expect(lift.op.seq).toBe(late.op.seq + 1)
    const h = historyOf(island)
    const genesis = h.genesis.bytes
    expect(h.expected.get(hex(resident.signer.publicKey))).toMatchObject({ forks: [3], frozenFrom: null })

    const chained = await chainOrder(genesis, h.ops)
    expect(chainsDiffer(chained.ledger, h.expected, h.names)).toEqual([])
    expect(lengthOf(chained, resident)).toBe(6) // lifted: 4 and 5 apply
    agrees('one batch', await oneBatch(genesis, h.ops), chained, h)

    // (a) The unfreeze arrives while its registrar's op below it is missing: it waits pending.
    const pending = await replica(genesis)
    await feed(pending, [without(h.ops, late, lift), [lift.bytes], [late.bytes]])
    agrees('(a) fork known, unfreeze pending, then its registrar\'s op below', pending, chained, h)
    expect.soft(lengthOf(pending, resident), '(a) the lifted resident\'s ops 4 and 5 apply').toBe(6)
    const first = await replica(genesis)
    await feed(first, [[lift.bytes], ...without(h.ops, lift).map(b => [b])])
    agrees('(a) unfreeze first, then everything in chain order', first, chained, h)

    // (b) After a snapshot, the fork and then the unfreeze (pending, then unblocked), then a reopen:
    // it opens from the snapshot and the journal, and must equal a replica that never stopped.
    const batches = [[b3.bytes], [lift.bytes], [late.bytes]]
    const straight = await replica(genesis)
    await feed(straight, [without(h.ops, b3, late, lift), ...batches])
    const journaled = await replica(genesis)
    await feed(journaled, [without(h.ops, b3, late, lift)])
    await journaled.ledger.snapshot()
    await feed(journaled, batches)
    const reopened = await reopen(genesis, journaled)
    expect.soft(journaled.ledger.stateHash(), '(b) before closing: as the replica that never stopped').toBe(straight.ledger.stateHash())
    expect.soft(reopened.ledger.stateHash(), '(b) reopened from snapshot and journal: as the replica that never stopped').toBe(straight.ledger.stateHash())
    agrees('(b) never stopped', straight, chained, h)
    agrees('(b) reopened from snapshot and journal', reopened, chained, h)
    const together = await replica(genesis)
    await feed(together, [without(h.ops, b3, late, lift)])
    await together.ledger.snapshot()
    await feed(together, [batches.flat()])
    agrees('(b) fork and unfreeze in one batch after a snapshot, reopened', await reopen(genesis, together), chained, h)

    // (c) The registrar forks at r (its own branch survives), then signs, above r, an unfreeze of its
    // own fork and one of the resident's fork, then registers another device: none of it applies.
    const { island: isl, resident: res } = residentIsland('arrival-2c')
    const rf = fork(isl, res, 3, 1, 0, losingK(isl, res, 3))
    expect(compareIds(rf.original.id, (rf.signed[0] as DecodedOp).id)).toBeLessThan(0)
    isl.must(isl.registrar, 'register', { role: 'consumer', meter: isl.signer('late-device').publicKey, label: 'late device', category: 'household', position: null })
    const registrar = registrarOf(isl)
    const r = isl.state.chain(isl.registrar.publicKey).length - 1
    const regFork = fork(isl, registrar, r, 1, 0, losingK(isl, registrar, r))
    expect(compareIds(regFork.original.id, (regFork.signed[0] as DecodedOp).id)).toBeLessThan(0)
    const own = unfreeze(isl, isl.registrar.publicKey, r)
    const other = unfreeze(isl, res.signer.publicKey, 3)
    isl.must(isl.registrar, 'register', { role: 'consumer', meter: isl.signer('later-device').publicKey, label: 'later device', category: 'household', position: null })
    expect([own.op.seq, other.op.seq]).toEqual([r + 1, r + 2])
    const hc = historyOf(isl)
    const g = hc.genesis.bytes
    expect(hc.expected.get(hex(isl.registrar.publicKey))).toMatchObject({ forks: [r], frozenFrom: r })
    expect(hc.expected.get(hex(res.signer.publicKey))).toMatchObject({ forks: [3], frozenFrom: 3 })

    const reference = await chainOrder(g, hc.ops)
    expect(chainsDiffer(reference.ledger, hc.expected, hc.names)).toEqual([])
    const replicas: Array<[string, Replica]> = [
      ['(c) one batch', await oneBatch(g, hc.ops)],
      ['(c) one batch, reversed', await oneBatch(g, hc.ops.slice().reverse())],
      ['(c) the registrar\'s unfreezes first', await (async () => {
        const x = await replica(g)
        await feed(x, [[own.bytes, other.bytes], without(hc.ops, own, other)])
        return x
      })()],
      ['(c) chain order in batches of 5, snapshots and reopens on the way', await deliver(g, hc.ops, {
        order: 'reverse', snapshotEvery: 0, steps: [{ size: 5, then: 'none' }, { size: 5, then: 'snapshot' }, { size: 5, then: 'none' }, { size: 5, then: 'reopen' }]
      })]
    ]
    replicas.push(['(c) one batch, reopened', await reopen(g, replicas[0]![1])])
    for (const [label, x] of [['(c) chain order', reference] as [string, Replica], ...replicas]) {
      expect.soft(lengthOf(x, isl.registrar), `${label}: the registrar's ops above its fork do not apply`).toBe(r + 1)
      expect.soft(lengthOf(x, res), `${label}: the resident stays frozen above its fork`).toBe(4)
      if (x !== reference) agrees(label, x, reference, hc)
    }
  })

  it('3. one unfreeze lifts a fork whose losing branch has two or more ops', async () => {
    // A producer's account sets prices at seqs 0..7; at 3 it also signs a branch of three ops (3, 4, 5).
    const island = new Island({ seed: 'arrival-3', producers: 1, households: 1, residents: 1 })
    const p = island.producers[0] as Island['producers'][number]
    const producer: Account = { signer: p.account, role: 'producer', name: 'producer-0' }
    for (let i = 1; i <= 7; i++) island.must(p.account, 'price', { wholesale: 8_000 + i, retail: 12_000 + i })
    expect(island.state.chain(p.account.publicKey).length).toBe(8)
    const s = 3
    const f = fork(island, producer, s, 1, 2, losingK(island, producer, s))
    expect(f.signed.map(d => d.op.seq)).toEqual([3, 4, 5])
    unfreeze(island, p.account.publicKey, s)
    const h = historyOf(island)
    const genesis = h.genesis.bytes
    // Expectations from the ids: the lower id at s survives, with the branch it starts.
    const islandWins = compareIds(f.original.id, (f.signed[0] as DecodedOp).id) < 0
    const surviving = islandWins
      ? Array.from({ length: 8 }, (_, seq) => originalAt(island, p.account.publicKey, seq) as DecodedOp)
      : [...[0, 1, 2].map(seq => originalAt(island, p.account.publicKey, seq) as DecodedOp), ...f.signed]
    const losing = islandWins ? f.signed : [4, 5, 6, 7].map(seq => originalAt(island, p.account.publicKey, seq) as DecodedOp)
    expect(losing.length).toBeGreaterThanOrEqual(2)
    expect(h.expected.get(hex(p.account.publicKey))).toMatchObject({ forks: [s], frozenFrom: null })
    expect(h.expected.get(hex(p.account.publicKey))?.ids.map(hex)).toEqual(surviving.map(d => hex(d.id)))

    const chained = await chainOrder(genesis, h.ops)
    const replicas: Array<[string, Replica]> = [
      ['one batch', await oneBatch(genesis, h.ops)],
      ['one batch, reversed', await oneBatch(genesis, h.ops.slice().reverse())]
    ]
    // The surviving ops above s last, one by one: each of them applies.
    const above = surviving.slice(s + 1)
    const last = await replica(genesis)
    const results = await feed(last, [without(h.ops, ...above), ...above.map(d => [d.bytes])])
    expect.soft(results.slice(1).map(([x]) => x === undefined || x.status === 'invalid' ? String(x?.status) : `${x.status} #${x.op.seq}`), 'the surviving ops above the fork, delivered last, one by one')
      .toEqual(above.map(d => `applied #${d.op.seq}`))
    replicas.push(['surviving ops above the fork last, one by one', last])
    const together = await replica(genesis)
    await feed(together, [without(h.ops, ...above), above.map(d => d.bytes)])
    replicas.push(['surviving ops above the fork last, in one batch', together])
    for (const [label, x] of [['chain order', chained] as [string, Replica], ...replicas]) {
      expect.soft(lengthOf(x, producer), `${label}: the producer's surviving branch applies past ${s + 1}`).toBe(surviving.length)
      expect.soft(chainsDiffer(x.ledger, h.expected, h.names), `${label}: chains as the ops say`).toEqual([])
      if (x !== chained) expect.soft(x.ledger.stateHash(), `${label}: stateHash equals the chain-order replica's`).toBe(chained.ledger.stateHash())
    }
  })
})
