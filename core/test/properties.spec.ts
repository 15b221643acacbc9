/**
 * Property tests of the ledger (fast-check). Base histories are grown once per file by `Island` from
 * seeds fast-check picks, with some rule-breaking attempts mixed in (rejected ops are part of a valid
 * history too), keys that sign before a registrar registers them as devices among them (their
 * transfers are decided again once the registration is known); every property then replays them in
 * orders, batches and with forgeries fast-check chooses. Replicas fed ops directly are LedgerStates
 * that keep their ops (`retainOps`), so they decide chains again themselves, as a Ledger does from
 * storage. A failure prints fast-check's seed: `PROPERTY_SEED=<seed> vitest run core/test/properties.spec.ts`
 * rebuilds the same histories and replays the same runs.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import {
  bytesEqual, compareBytes, CONTRACTS, decodeOp, encodeSignedOp, fromHex, keySigner, nobleVerifier, opId, signOp,
  SignatureError, toHex,
  type BodyOf, type DecodedOp, type Dep, type OpId, type OpKind, type OpSigner, type PublicKey, type SignatureVerifier,
  type SignedOp, type TransferContract, type UnsignedOp
} from '@microgrid/protocol'
import {
  cachingVerifier, defaultVerifier, draftOp, Ledger, LedgerState, ManualClock, MemoryStorage, nativeSigner,
  nativeVerifier, stateHash, whForPayment, type AddResult, type IngestResult
} from '@microgrid/core'
import { Island, RETAIL_PRICE, seededRandom } from '@microgrid/core/testing'

const SEED = process.env.PROPERTY_SEED !== undefined ? Number(process.env.PROPERTY_SEED) : Math.floor(Math.random() * 2 ** 31)
fc.configureGlobal({ seed: SEED })

/** Verifies each signature once per file (history ops are replayed many times): for properties where signatures are not the point. */
const fastVerifier = cachingVerifier(defaultVerifier())
const native = nativeVerifier()
const signerFor = (sk: Uint8Array): OpSigner => nativeSigner(sk) ?? keySigner(sk)

// ---------------------------------------------------------------------------------------------------
// Base histories

interface History {
  name: string
  island: Island
  genesis: DecodedOp
  ops: DecodedOp[]
  /** stateHash of the authoring replica. */
  hash: string
  /** Every key of the island with its signer, by hex (devices registered after they signed included). */
  signers: Map<string, OpSigner>
}

interface HistoryParams {
  producers: number
  households: number
  streetLights: number
  residents: number
  ops: number
  seed: number
  chaos: number
}

const historyParams: fc.Arbitrary<HistoryParams> = fc.record({
  producers: fc.integer({ min: 1, max: 3 }),
  households: fc.integer({ min: 1, max: 3 }),
  streetLights: fc.integer({ min: 0, max: 2 }),
  residents: fc.integer({ min: 1, max: 4 }),
  ops: fc.integer({ min: 150, max: 400 }),
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  chaos: fc.integer({ min: 0, max: 3 })
})

/** Keys that signed before a registrar registered them as devices, waiting for their registration. */
interface Unregistered { keys: OpSigner[], made: number }

/**
 * A key that buys energy from the utility (a retail sale, as any account may) and funds a device like
 * a resident, or tries to: ordinary ops while nobody has registered the key.
 */
function earlyKey (island: Island, random: () => number, early: Unregistered): OpSigner {
  const key = island.signer(`early-device-${early.made++}`)
  const available = island.state.balance(island.utility.publicKey)
  if (available >= 3_000 && random() < 0.8) island.sellRetail(key, Math.min(1_000, Math.floor(available / 2 * RETAIL_PRICE / 1_000_000)))
  const d = island.devices[Math.floor(random() * island.devices.length)]
  const b = island.state.balance(key.publicKey)
  if (d !== undefined) island.emit(key, 'transfer', { contract: 'resident', to: d.meter.publicKey, wh: b > 0 ? 1 + Math.floor(random() * b) : 1, receipt: null, window: null })
  early.keys.push(key)
  return key
}

/** The registrar registers a key that signed before as a consumer device: its transfers are decided again. */
function registerEarly (island: Island, key: OpSigner): void {
  const label = `early ${toHex(key.publicKey).slice(0, 8)}`
  island.must(island.registrar, 'register', { role: 'consumer', meter: key.publicKey, label, category: 'household', position: null })
  island.devices.push({ meter: key, category: 'household', label })
}

/**
 * Rule-breaking or borderline actions signed through the island (so the authoring replica and `ops`
 * stay one history): over-funding, over-burning, device meters trying to transfer, re-settling an old
 * receipt, a resident spending its whole balance twice, a device registered late, a key that signed
 * transfers before a registrar registered it as a device (registered in the same step or a later one).
 */
function chaosStep (island: Island, random: () => number, early: Unregistered): void {
  const pick = <T>(xs: readonly T[]): T | undefined => xs[Math.floor(random() * xs.length)]
  const state = island.state
  const oracleLength = state.chain(island.oracle.publicKey).length
  switch (Math.floor(random() * 7)) {
    case 0: {
      const r = pick(island.residents)
      const d = pick(island.devices)
      if (r !== undefined && d !== undefined) island.fund(r, d, state.balance(r.publicKey) + 1 + Math.floor(random() * 5_000))
      break
    }
    case 1: {
      const d = pick(island.devices)
      if (d === undefined) break
      const wh = state.balance(d.meter.publicKey) + 1 + Math.floor(random() * 1_000)
      island.emit(d.meter, 'burn', { wh, total: (state.chain(d.meter.publicKey).reading ?? 0) + wh })
      break
    }
    case 2: {
      const d = pick(island.devices)
      if (d === undefined) break
      const targets = [island.utility.publicKey, ...island.residents.map(r => r.publicKey), ...island.devices.map(x => x.meter.publicKey)]
      const to = pick(targets) as PublicKey
      const contract = pick(CONTRACTS) as TransferContract
      const wh = 1 + Math.floor(random() * Math.max(1, state.balance(d.meter.publicKey)))
      const body: BodyOf['transfer'] = contract === 'resident' || oracleLength === 0
        ? { contract: 'resident', to, wh, receipt: null, window: null }
        : { contract, to, wh, receipt: [island.oracle.publicKey, Math.floor(random() * oracleLength)], window: null }
      island.emit(d.meter, 'transfer', body)
      break
    }
    case 3: {
      // The utility cites an old retail receipt again (already settled, or settles it late).
      const seq = Math.floor(random() * oracleLength)
      const receipt = state.receiptAt(island.oracle.publicKey, seq)
      if (receipt === undefined || receipt.contract !== 'retail-seller' || !bytesEqual(receipt.payee, island.utility.publicKey)) break
      const wh = Math.floor(receipt.amount * 1_000_000 / (state.chain(island.utility.publicKey).retail ?? 1))
      if (wh > 0) island.emit(island.utility, 'transfer', { contract: 'retail-seller', to: receipt.payer, wh, receipt: [island.oracle.publicKey, seq], window: null })
      break
    }
    case 4: {
      const r = pick(island.residents)
      const d = pick(island.devices)
      const b = r === undefined ? 0 : state.balance(r.publicKey)
      if (r !== undefined && d !== undefined && b > 0) {
        island.fund(r, d, b)
        island.fund(r, d, b)
      }
      break
    }
    case 5:
      if (random() < 0.5) island.addDevice(random() < 0.5 ? 'household' : 'street-light')
      break
    default:
      if (early.keys.length > 0 && random() < 0.5) {
        registerEarly(island, early.keys.shift() as OpSigner)
        break
      }
      earlyKey(island, random, early)
      // Registered in the same step half the time, else in a later one (after more ops of others).
      if (random() < 0.5) registerEarly(island, early.keys.pop() as OpSigner)
  }
}

function buildHistory (p: HistoryParams): History {
  const name = `prop-${p.seed}`
  // The authoring replica keeps its ops: a late device registration makes it decide ops again.
  const island = new Island({ producers: p.producers, households: p.households, streetLights: p.streetLights, residents: p.residents, seed: name, signerFor, retainOps: true })
  const random = seededRandom(p.seed)
  const early: Unregistered = { keys: [], made: 0 }
  while (island.ops.length < p.ops || !island.residents.some(r => island.state.balance(r.publicKey) > 0)) {
    island.simulate(island.ops.length + 25, random)
    for (let i = 0; i < p.chaos; i++) chaosStep(island, random, early)
  }
  // Every history has a key that signed before its registration: replicas that get its ops before
  // the registration decide them again when it arrives.
  if (early.made === 0) earlyKey(island, random, early)
  while (early.keys.length > 0) registerEarly(island, early.keys.shift() as OpSigner)
  const signers = new Map<string, OpSigner>()
  const add = (s: OpSigner): void => { signers.set(toHex(s.publicKey), s) }
  ;[island.registrar, island.oracle, island.utility, ...island.residents].forEach(add)
  for (const pr of island.producers) { add(pr.account); add(pr.meter) }
  for (const d of island.devices) add(d.meter)
  return {
    name,
    island,
    genesis: decodeOp(island.genesis),
    ops: island.ops.map(b => decodeOp(b)),
    hash: stateHash(island.state),
    signers
  }
}

const pool: History[] = []
const POOL_SIZE = 6

beforeAll(() => {
  for (const params of fc.sample(historyParams, { numRuns: POOL_SIZE, seed: SEED })) pool.push(buildHistory(params))
}, 30_000)

const historyIndex = (): fc.Arbitrary<number> => fc.nat({ max: pool.length - 1 })
const at = <T>(xs: readonly T[], i: number): T => xs[((i % xs.length) + xs.length) % xs.length] as T
const hexOf = (k: PublicKey): string => toHex(k)

// ---------------------------------------------------------------------------------------------------
// Orders and batches

type OrderSpec = { kind: 'shuffle', seed: number } | { kind: 'reverse' } | { kind: 'by-author' } | { kind: 'signed' }

const orderSpec: fc.Arbitrary<OrderSpec> = fc.oneof(
  { weight: 5, arbitrary: fc.integer().map((seed): OrderSpec => ({ kind: 'shuffle', seed })) },
  { weight: 1, arbitrary: fc.constant<OrderSpec>({ kind: 'reverse' }) },
  { weight: 1, arbitrary: fc.constant<OrderSpec>({ kind: 'by-author' }) },
  { weight: 1, arbitrary: fc.constant<OrderSpec>({ kind: 'signed' }) }
)

/** Reorders ops: a seeded shuffle, reversed (every dependency arrives last), by author then seq (like storage replay), or as signed. */
function ordered (ops: readonly DecodedOp[], spec: OrderSpec): DecodedOp[] {
  const out = ops.slice()
  switch (spec.kind) {
    case 'shuffle': {
      const random = seededRandom(spec.seed)
      for (let i = out.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1))
        const t = out[i] as DecodedOp
        out[i] = out[j] as DecodedOp
        out[j] = t
      }
      return out
    }
    case 'reverse': return out.reverse()
    case 'by-author': return out.sort((a, b) => compareBytes(a.op.author, b.op.author) || a.op.seq - b.op.seq)
    case 'signed': return out
  }
}

const batchSizes = fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 })

function inBatches<T> (items: readonly T[], sizes: readonly number[]): T[][] {
  const out: T[][] = []
  for (let i = 0, k = 0; i < items.length; k++) {
    const n = at(sizes, k)
    out.push(items.slice(i, i + n))
    i += n
  }
  return out
}

// ---------------------------------------------------------------------------------------------------
// Replicas

/**
 * A LedgerState that keeps every op it is given (`retainOps`), so it decides chains again by itself
 * when a fact changes past verdicts (a late device registration here), and says when it does.
 */
class RewindingState extends LedgerState {
  readonly #hooks: Array<(phase: 'start' | 'end') => void> = []

  constructor (genesis: DecodedOp) {
    super(genesis, { retainOps: true })
  }

  onRewind (hook: (phase: 'start' | 'end') => void): void {
    this.#hooks.push(hook)
  }

  override settleWith (opsOf: (chain: number) => readonly DecodedOp[]): void {
    for (const hook of this.#hooks) hook('start')
    try {
      super.settleWith(opsOf)
    } finally {
      for (const hook of this.#hooks) hook('end')
    }
  }
}

function freshState (h: History): RewindingState {
  return new RewindingState(h.genesis)
}

function replayed (h: History, ops: readonly DecodedOp[] = h.ops): LedgerState {
  const s = freshState(h)
  for (const d of ops) s.add(d)
  return s
}

async function openLedger (h: History, storage: MemoryStorage = new MemoryStorage(), verifier: SignatureVerifier = fastVerifier): Promise<Ledger> {
  return await Ledger.open({ genesis: h.genesis.bytes, storage, verifier })
}

async function feed (ledger: Ledger, ops: readonly DecodedOp[], sizes: readonly number[]): Promise<IngestResult[]> {
  const results: IngestResult[] = []
  for (const batch of inBatches(ops, sizes)) results.push(...await ledger.applyBatch(batch.map(d => d.bytes)))
  return results
}

function balances (state: LedgerState): Map<string, number> {
  return new Map(state.chains.map(c => [c.hex, c.balance]))
}

function nonZeroBalances (state: LedgerState): Array<[string, number]> {
  return state.chains.filter(c => c.balance !== 0).map((c): [string, number] => [c.hex, c.balance]).sort((a, b) => a[0] < b[0] ? -1 : 1)
}

interface WindowSnapshot { funder: number, from: number, until: number, remaining: number }

/** The open funding windows of every device chain, copied. */
function openWindows (state: LedgerState): Map<string, WindowSnapshot[]> {
  const out = new Map<string, WindowSnapshot[]>()
  for (const c of state.chains) {
    const ws = state.windowsOf(fromHex(c.hex))
    if (ws.length > 0) out.set(c.hex, ws.map(w => ({ ...w })))
  }
  return out
}

/** Windows open before a step that are no longer open after it (closed, their leftover returned). */
function closedWindows (before: readonly WindowSnapshot[] | undefined, state: LedgerState, hex: string): WindowSnapshot[] {
  if (before === undefined) return []
  const now = state.windowsOf(fromHex(hex))
  return before.filter(w => !now.some(n => n.funder === w.funder && n.from === w.from && n.until === w.until))
}

type Decided = { op: SignedOp, id: OpId, status: 'accepted' | 'rejected' }

const debitOf = (op: SignedOp): number => op.kind === 'transfer' || op.kind === 'burn' ? op.body.wh : 0

/**
 * Applies ops to a LedgerState and checks the rules' invariants after every decided op. An `add` that
 * unblocks pending ops decides the delivered op and then each op it unblocks, one after the other; the
 * first check of such a cascade covers the delivered op and the first unblocked one together, each
 * later check exactly one op. When the state decides ops again (a rewind), the check comes once the
 * rewind is over and covers every op it decided: a rewind takes back what the ops it decides again
 * had given, so a balance may fall there without a debit of its own; the other invariants hold.
 */
class Watcher {
  readonly state: RewindingState
  /** The last verdict of every decided op, by id (hex). */
  readonly results = new Map<string, AddResult>()
  /** Also check that consumer devices (keys a registrar registered as such) only lose value by their own burns. */
  readonly devices: boolean
  #before: Map<string, number>
  /** Open funding windows of every device before the current step: what a window's close may give back. */
  #windowsBefore: Map<string, WindowSnapshot[]>
  #group: Decided[] = []
  #current: DecodedOp | undefined
  #rewinding = false
  /** Ids reported decided during the current `add`. */
  #reported = new Set<string>()
  steps = 0
  rewinds = 0

  constructor (state: RewindingState, devices = false) {
    this.state = state
    this.devices = devices
    this.#before = balances(state)
    this.#windowsBefore = openWindows(state)
    state.onDecided(r => {
      if (!this.#rewinding) this.#takeCurrent(true)
      const id = toHex(r.id)
      this.results.set(id, r)
      this.#reported.add(id)
      this.#group.push({ op: r.op, id: r.id, status: r.status === 'applied' ? 'accepted' : 'rejected' })
      if (!this.#rewinding) this.#check(false)
    })
    state.onRewind(phase => {
      if (phase === 'start') {
        this.#takeCurrent(false)
        this.#rewinding = true
        return
      }
      this.#rewinding = false
      this.rewinds++
      // Verdicts of ops the rewind left undecided (void, frozen or waiting) are no longer verdicts.
      for (const [id, r] of this.results) if (!['accepted', 'rejected'].includes(state.statusOf(r.op.author, r.op.seq, r.id))) this.results.delete(id)
      this.#check(true)
    })
  }

  /** The delivered op joins the step it belongs to, once it is decided. */
  #takeCurrent (mustBeDecided: boolean): void {
    const c = this.#current
    if (c === undefined) return
    this.#current = undefined
    const status = this.state.statusOf(c.op.author, c.op.seq, c.id)
    if (status === 'accepted' || status === 'rejected') this.#group.push({ op: c.op, id: c.id, status })
    else if (mustBeDecided) throw new Error(`an op that unblocks others must be decided, not ${status}`)
  }

  add (d: DecodedOp): AddResult {
    this.#current = d
    this.#reported.clear()
    const r = this.state.add(d)
    if (this.#current !== undefined && (r.status === 'applied' || r.status === 'rejected')) {
      this.#group.push({ op: d.op, id: d.id, status: r.status === 'applied' ? 'accepted' : 'rejected' })
    }
    this.#current = undefined
    // A verdict reported while this op was added is the op's own (a rewind may have decided it again).
    if ((r.status === 'applied' || r.status === 'rejected') && !this.#reported.has(toHex(d.id))) this.results.set(toHex(d.id), r)
    this.#check(false)
    return r
  }

  #isDevice (hex: string): boolean {
    const c = this.state.chainByHex(hex)
    return c !== undefined && this.state.hasRole(c.idx, 'device')
  }

  #check (rewound: boolean): void {
    this.steps++
    const after = balances(this.state)
    const group = this.#group
    const what = (): string => (rewound ? 'a rewind deciding ' : '') + group.map(g => `${g.op.kind}#${g.op.seq} by ${toHex(g.op.author).slice(0, 10)} (${g.status})`).join(', ')
    let sum = 0
    for (const b of after.values()) sum += b
    if (this.state.minted - this.state.burned !== sum) {
      throw new Error(`supply invariant broken after ${what()}: minted ${this.state.minted} - burned ${this.state.burned} ≠ Σ balances ${sum}`)
    }
    for (const [hex, b1] of after) {
      if (b1 < 0) throw new Error(`balance of ${hex.slice(0, 10)} went negative (${b1}) after ${what()}`)
      const b0 = this.#before.get(hex) ?? 0
      if (b1 >= b0 || rewound) continue
      const own = group.filter(g => g.status === 'accepted' && toHex(g.op.author) === hex && debitOf(g.op) > 0)
      const debits = own.reduce((s, g) => s + debitOf(g.op), 0)
      // A device's op dated at or after a window's end gives what is left of the window back to its
      // funder: at most what the window held before this step.
      const returned = closedWindows(this.#windowsBefore.get(hex), this.state, hex).reduce((s, w) => s + w.remaining, 0)
      if (b0 - b1 > debits + returned) {
        throw new Error(`balance of ${hex.slice(0, 10)} fell ${b0} -> ${b1}, but its own accepted debits in this step total ${debits} and its closed windows held ${returned}: ${what()}`)
      }
      if (this.devices && this.#isDevice(hex) && !own.some(g => g.op.kind === 'burn') && b0 - b1 > returned) {
        throw new Error(`consumer device ${hex.slice(0, 10)} lost ${b0 - b1} Wh without burning (its closed windows held ${returned}): ${what()}`)
      }
    }
    if (this.devices) {
      for (const g of group) {
        if (g.status === 'accepted' && g.op.kind === 'transfer' && this.#isDevice(toHex(g.op.author))) {
          throw new Error(`consumer device ${toHex(g.op.author).slice(0, 10)} had a transfer accepted (${g.op.body.contract}, ${g.op.body.wh} Wh) after ${what()}: value left a burn-only account`)
        }
      }
    }
    this.#before = after
    this.#windowsBefore = openWindows(this.state)
    this.#group = []
  }
}

/** Signs new ops on a replica of a history, the way a node would (draftOp), optionally tampering with the draft. */
class Author {
  readonly h: History
  readonly watcher: Watcher
  readonly clock: ManualClock
  readonly ops: DecodedOp[] = []

  constructor (h: History, devices = false) {
    this.h = h
    this.watcher = new Watcher(freshState(h), devices)
    for (const d of h.ops) this.watcher.add(d)
    this.clock = new ManualClock(h.island.clock.now())
  }

  get state (): RewindingState { return this.watcher.state }

  sign<K extends OpKind> (signer: OpSigner, kind: K, body: BodyOf[K], tamper?: (draft: UnsignedOp) => UnsignedOp): DecodedOp {
    this.clock.advance(1_000)
    const draft = draftOp(this.state, signer.publicKey, kind, body, this.clock) as UnsignedOp
    return decodeOp(signOp(tamper === undefined ? draft : tamper(draft), signer).bytes)
  }

  emit<K extends OpKind> (signer: OpSigner, kind: K, body: BodyOf[K], tamper?: (draft: UnsignedOp) => UnsignedOp): { decoded: DecodedOp, result: AddResult } {
    const decoded = this.sign(signer, kind, body, tamper)
    this.ops.push(decoded)
    return { decoded, result: this.watcher.add(decoded) }
  }
}

/** Replays ops in the given order into a watched fresh state; returns the watcher. */
function watchedReplay (h: History, ops: readonly DecodedOp[], devices = false): Watcher {
  const w = new Watcher(freshState(h), devices)
  for (const d of ops) w.add(d)
  return w
}

// ---------------------------------------------------------------------------------------------------

describe('ledger properties', () => {
  it('1a. any permutation of a history gives the authoring replica\'s state (LedgerState)', () => {
    fc.assert(fc.property(
      historyIndex().chain(hi => {
        const n = (pool[hi] as History).ops.length
        const ids = [...Array(n).keys()]
        return fc.tuple(fc.constant(hi), fc.oneof(
          { weight: 4, arbitrary: fc.shuffledSubarray(ids, { minLength: n, maxLength: n }) },
          { weight: 1, arbitrary: fc.constant(ids.slice().reverse()) }
        ))
      }),
      ([hi, perm]) => {
        const h = pool[hi] as History
        expect(h.island.state.pendingCount).toBe(0)
        const s = replayed(h, perm.map(i => h.ops[i] as DecodedOp))
        expect(s.pendingCount).toBe(0)
        expect(s.missing()).toEqual([])
        expect(stateHash(s)).toBe(h.hash)
        for (const d of h.ops) expect(s.statusOf(d.op.author, d.op.seq, d.id)).toBe(h.island.state.statusOf(d.op.author, d.op.seq, d.id))
      }
    ), { numRuns: 40 })
  })

  it('1b. any order in random batch sizes through Ledger.applyBatch gives the same state, nothing pending', async () => {
    await fc.assert(fc.asyncProperty(historyIndex(), orderSpec, batchSizes, async (hi, order, sizes) => {
      const h = pool[hi] as History
      const ledger = await openLedger(h)
      const results = await feed(ledger, ordered(h.ops, order), sizes)
      expect(results.filter(r => r.status === 'invalid' || r.status === 'duplicate' || r.status === 'void')).toEqual([])
      expect(ledger.state.pendingCount).toBe(0)
      expect(ledger.stateHash()).toBe(h.hash)
    }), { numRuns: 25 })
  })

  it('1c. every op delivered twice, in any order and batches: same state, every second copy a duplicate', async () => {
    await fc.assert(fc.asyncProperty(historyIndex(), orderSpec, batchSizes, async (hi, order, sizes) => {
      const h = pool[hi] as History
      const ledger = await openLedger(h)
      const twice = ordered(h.ops.flatMap(d => [d, d]), order)
      const results = await feed(ledger, twice, sizes)
      const seen = new Set<string>()
      for (let i = 0; i < twice.length; i++) {
        const id = toHex((twice[i] as DecodedOp).id)
        const r = results[i] as IngestResult
        if (seen.has(id)) expect(r.status, 'second delivery').toBe('duplicate')
        else expect(['applied', 'rejected', 'pending'], 'first delivery').toContain(r.status)
        seen.add(id)
      }
      expect(ledger.state.pendingCount).toBe(0)
      expect(ledger.stateHash()).toBe(h.hash)
      expect((await ledger.storage.loadRange(['op'])).length).toBe(h.ops.length)
    }), { numRuns: 20 })
  })

  it('2. supply invariant: minted − burned = Σ balances after every op, in any order', () => {
    fc.assert(fc.property(historyIndex(), orderSpec, (hi, order) => {
      const h = pool[hi] as History
      const w = watchedReplay(h, ordered(h.ops, order))
      expect(w.steps).toBeGreaterThanOrEqual(h.ops.length)
      expect(w.state.pendingCount).toBe(0)
      const s = w.state
      expect(s.minted - s.burned).toBe(s.chains.reduce((sum, c) => sum + c.balance, 0))
      expect(s.minted).toBeGreaterThan(0)
      expect(stateHash(s)).toBe(h.hash)
    }), { numRuns: 40 })
  })

  const verifiers = new Map<string, SignatureVerifier>([['noble', nobleVerifier], ['cached', cachingVerifier(defaultVerifier())]])
  if (native !== undefined) verifiers.set('native', native)
  const verifierName = (): fc.Arbitrary<string> => fc.constantFrom(...verifiers.keys())

  it('3a. an op re-authored to the victim\'s key but signed by another key is invalid and changes nothing', async () => {
    await fc.assert(fc.asyncProperty(
      historyIndex(), fc.nat(), fc.nat(),
      fc.constantFrom('next-slot', 'same-slot'),
      fc.constantFrom('attacker', 'original-sig', 'stranger'),
      verifierName(),
      fc.uint8Array({ minLength: 32, maxLength: 32 }).filter(b => b.some(x => x !== 0) && b[0] !== 0xff),
      async (hi, opPick, victimPick, slot, sigMode, vname, strangerKey) => {
        const h = pool[hi] as History
        const verifier = verifiers.get(vname) as SignatureVerifier
        const debits = h.ops.filter(d => d.op.kind === 'transfer' || d.op.kind === 'burn')
        const original = at(debits, opPick)
        const attacker = h.signers.get(hexOf(original.op.author)) as OpSigner
        const victims = [...h.signers.values()].filter(s => !bytesEqual(s.publicKey, attacker.publicKey))
        const victim = at(victims, victimPick)
        // Build the replica with the fast verifier, then reopen it (no re-verification) with the one under test.
        const storage = new MemoryStorage()
        await feed(await openLedger(h, storage), h.ops, [h.ops.length])
        const ledger = await openLedger(h, storage, verifier)
        const hash = ledger.stateHash()
        const stored = (await storage.loadRange([])).length
        const victimBalance = ledger.state.balance(victim.publicKey)

        let unsigned: UnsignedOp
        const op = original.op
        if (slot === 'next-slot') {
          // The victim's next position, with the deps a real op of the victim would carry.
          const clock = new ManualClock(op.ts)
          const body = op.kind === 'burn'
            ? { wh: op.body.wh, total: (ledger.state.chain(victim.publicKey).reading ?? 0) + op.body.wh }
            : op.body
          unsigned = draftOp(ledger.state, victim.publicKey, op.kind as 'transfer' | 'burn', body as BodyOf['transfer'] & BodyOf['burn'], clock) as UnsignedOp
        } else {
          // The original's position and deps, only the author swapped (a forged fork of the victim's chain).
          const { sig: _sig, ...rest } = op
          unsigned = { ...rest, author: victim.publicKey, deps: op.deps.filter(([k]) => !bytesEqual(k, victim.publicKey)) } as UnsignedOp
        }
        const id = opId(unsigned)
        const sig = sigMode === 'attacker'
          ? attacker.sign(id)
          : sigMode === 'original-sig' ? op.sig : keySigner(strangerKey).sign(id)
        const forged = encodeSignedOp({ ...unsigned, sig } as SignedOp)
        expect(decodeOp(forged).op.author).toEqual(victim.publicKey) // well-formed: only the signature is wrong

        const result = await ledger.apply(forged)
        expect(result.status).toBe('invalid')
        expect(result.status === 'invalid' && result.error instanceof SignatureError).toBe(true)
        const batch = await ledger.applyBatch([forged, forged])
        expect(batch.map(r => r.status)).toEqual(['invalid', 'invalid'])
        expect(ledger.stateHash()).toBe(hash)
        expect(ledger.state.balance(victim.publicKey)).toBe(victimBalance)
        expect(ledger.state.statusOf(victim.publicKey, unsigned.seq, id)).toBe('unknown')
        expect((await storage.loadRange([])).length).toBe(stored)
        expect((await openLedger(h, storage, verifier)).stateHash()).toBe(hash)
      }
    ), { numRuns: 30 })
  })

  it('3c. a copy of a genuine op with a bad signature, delivered in the same batch, never displaces the genuine op', async () => {
    await fc.assert(fc.asyncProperty(
      historyIndex(), fc.nat(), fc.constantFrom('attacker', 'stranger', 'bit-flip'), fc.nat(), verifierName(),
      fc.uint8Array({ minLength: 32, maxLength: 32 }).filter(b => b.some(x => x !== 0) && b[0] !== 0xff),
      async (hi, cutPick, sigMode, attackerPick, vname, strangerKey) => {
        const h = pool[hi] as History
        const verifier = verifiers.get(vname) as SignatureVerifier
        const cut = cutPick % h.ops.length
        const genuine = h.ops[cut] as DecodedOp
        const storage = new MemoryStorage()
        await feed(await openLedger(h, storage), h.ops.slice(0, cut), [Math.max(1, cut)])
        const ledger = await openLedger(h, storage, verifier)
        // Same unsigned content, so the same id; only the signature is not the author's.
        const { sig: _sig, ...unsigned } = genuine.op
        let sig: Uint8Array
        if (sigMode === 'bit-flip') {
          sig = genuine.op.sig.slice()
          sig[40] = (sig[40] as number) ^ 0x01
        } else {
          const others = [...h.signers.values()].filter(s => !bytesEqual(s.publicKey, genuine.op.author))
          sig = (sigMode === 'attacker' ? at(others, attackerPick) : keySigner(strangerKey)).sign(genuine.id)
        }
        const forged = encodeSignedOp({ ...unsigned, sig } as SignedOp)
        expect(decodeOp(forged).id).toEqual(genuine.id)
        const [bad, good] = await ledger.applyBatch([forged, genuine.bytes])
        expect(bad?.status).toBe('invalid')
        expect(['applied', 'rejected', 'pending'], 'the genuine op after its forged copy').toContain(good?.status)
        await feed(ledger, h.ops.slice(cut + 1), [64])
        expect(ledger.state.pendingCount).toBe(0)
        expect(ledger.stateHash()).toBe(h.hash)
      }
    ), { numRuns: 30 })
  })

  type DepsMode = { mode: 'full' } | { mode: 'drop-registrar' } | { mode: 'stale-registrar', permille: number }
  const depsMode: fc.Arbitrary<DepsMode> = fc.oneof(
    { weight: 1, arbitrary: fc.constant<DepsMode>({ mode: 'full' }) },
    { weight: 1, arbitrary: fc.constant<DepsMode>({ mode: 'drop-registrar' }) },
    { weight: 2, arbitrary: fc.integer({ min: 0, max: 1000 }).map((permille): DepsMode => ({ mode: 'stale-registrar', permille })) }
  )
  /** Mostly resident transfers (the sale contracts also need a seller's role and a receipt). */
  const contract = fc.oneof(
    { weight: 3, arbitrary: fc.constant<TransferContract>('resident') },
    { weight: 1, arbitrary: fc.constant<TransferContract>('retail-seller') },
    { weight: 1, arbitrary: fc.constant<TransferContract>('wholesale-seller') }
  )
  /** A share of a balance, in percent: mostly affordable, sometimes more than there is. */
  const percent = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 100 }) }, { weight: 1, arbitrary: fc.integer({ min: 101, max: 200 }) })

  /** A signer may declare whatever deps it likes: drop the registrar's head or cite an older one. */
  function tamperDeps (h: History, state: LedgerState, mode: DepsMode): (draft: UnsignedOp) => UnsignedOp {
    const registrar = h.island.registrar.publicKey
    return draft => {
      if (mode.mode === 'full' || bytesEqual(draft.author, registrar)) return draft
      const deps: Dep[] = draft.deps.filter(([k]) => !bytesEqual(k, registrar))
      if (mode.mode === 'stale-registrar') {
        const head = state.chain(registrar).length - 1
        deps.push([registrar, Math.floor(head * mode.permille / 1000)])
        deps.sort((a, b) => compareBytes(a[0], b[0]))
      }
      return { ...draft, deps }
    }
  }

  function transferBody (h: History, state: LedgerState, contract: TransferContract, to: PublicKey, wh: number, receiptPick: number): BodyOf['transfer'] {
    if (contract === 'resident') return { contract, to, wh, receipt: null, window: null }
    const oracleLength = state.chain(h.island.oracle.publicKey).length
    return { contract, to, wh, receipt: [h.island.oracle.publicKey, oracleLength === 0 ? 0 : receiptPick % oracleLength], window: null }
  }

  const percentOf = (balance: number, percent: number): number => Math.max(1, Math.floor(balance * percent / 100))

  it('3b. an account\'s own validly signed transfers never lower any other account\'s balance', () => {
    const attempt = fc.record({
      contract,
      to: fc.nat(),
      percent,
      receipt: fc.nat(),
      deps: depsMode
    })
    fc.assert(fc.property(historyIndex(), fc.nat(), fc.array(attempt, { minLength: 1, maxLength: 6 }), orderSpec, (hi, attackerPick, attempts, order) => {
      const h = pool[hi] as History
      const a = new Author(h)
      const attacker = at([...h.signers.values()], attackerPick)
      const keys = [...h.signers.values()].map(s => s.publicKey)
      for (const t of attempts) {
        const to = at(keys, t.to)
        const before = balances(a.state)
        const body = transferBody(h, a.state, t.contract, to, percentOf(a.state.balance(attacker.publicKey), t.percent), t.receipt)
        const { result } = a.emit(attacker, 'transfer', body, tamperDeps(h, a.state, t.deps))
        expect(['applied', 'rejected']).toContain(result.status)
        for (const [hex, b1] of balances(a.state)) {
          const b0 = before.get(hex) ?? 0
          if (hex === hexOf(attacker.publicKey)) continue
          if (hex === hexOf(to)) expect(b1, 'the payee only gains').toBeGreaterThanOrEqual(b0)
          else expect(b1, `bystander ${hex.slice(0, 10)}`).toBe(b0)
        }
      }
      // The same ops in another order: every step still only debits the accounts that signed.
      const w = watchedReplay(h, ordered([...h.ops, ...a.ops], order))
      expect(w.state.pendingCount).toBe(0)
      expect(stateHash(w.state)).toBe(stateHash(a.state))
    }), { numRuns: 30 })
  })

  it('4. consumer accounts are burn-only: every transfer by a registered device key is rejected, also one signed before its registration, and devices only lose value by burning', () => {
    type DevicePick = number // -1: the newest device
    type Target = { among: 'devices' | 'accounts', pick: number }
    type Move = { contract: TransferContract, to: Target, percent: number, receipt: number, deps: DepsMode }
    type Attempt =
      | { kind: 'register', fund: { resident: number, percent: number } | null }
      | { kind: 'fund', resident: number, device: DevicePick, percent: number }
      | { kind: 'burn', device: DevicePick, percent: number }
      | ({ kind: 'transfer', device: DevicePick } & Move)
      /** A key that buys energy (`cents`, 0: none), transfers as an ordinary account, and only then is registered as a device. */
      | { kind: 'early', cents: number, moves: Move[] }
    const device = fc.oneof(fc.constant(-1), fc.nat({ max: 64 }))
    const move = {
      contract,
      to: fc.record({ among: fc.constantFrom('devices' as const, 'accounts' as const), pick: fc.nat() }),
      percent,
      receipt: fc.nat(),
      deps: depsMode
    }
    const attempt: fc.Arbitrary<Attempt> = fc.oneof(
      // A new household joins, and usually a resident funds it right away.
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('register' as const), fund: fc.option(fc.record({ resident: fc.nat(), percent }), { freq: 4 }) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('fund' as const), resident: fc.nat(), device, percent }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('burn' as const), device, percent }) },
      { weight: 4, arbitrary: fc.record({ kind: fc.constant('transfer' as const), device, ...move }) },
      {
        weight: 1,
        arbitrary: fc.record({
          kind: fc.constant('early' as const),
          cents: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2_000 })),
          moves: fc.array(fc.record(move), { minLength: 1, maxLength: 3 })
        })
      }
    )
    let rewinds = 0
    fc.assert(fc.property(historyIndex(), fc.array(attempt, { minLength: 1, maxLength: 10 }), orderSpec, (hi, attempts, order) => {
      const h = pool[hi] as History
      const a = new Author(h, true)
      const meters = h.island.devices.map(d => d.meter)
      const deviceAt = (pick: DevicePick): OpSigner => pick < 0 ? meters[meters.length - 1] as OpSigner : at(meters, pick)
      const accounts = [h.island.utility.publicKey, ...h.island.producers.map(p => p.account.publicKey), ...h.island.residents.map(r => r.publicKey)]
      const target = (t: Target): PublicKey => t.among === 'devices' ? deviceAt(t.pick).publicKey : at(accounts, t.pick)
      const fund = (residentPick: number, d: OpSigner, pct: number): void => {
        const rich = h.island.residents.filter(x => a.state.balance(x.publicKey) > 0)
        const r = at(rich.length > 0 ? rich : h.island.residents, residentPick)
        a.emit(r, 'transfer', { contract: 'resident', to: d.publicKey, wh: percentOf(a.state.balance(r.publicKey), pct), receipt: null, window: null })
      }
      const register = (meter: OpSigner, label: string): void => {
        const { result } = a.emit(h.island.registrar, 'register', { role: 'consumer', meter: meter.publicKey, label, category: 'household', position: null })
        expect(result.status).toBe('applied')
        meters.push(meter)
      }
      let early = 0
      for (const t of attempts) {
        if (t.kind === 'register') {
          const meter = h.island.signer(`late-device-${meters.length}`)
          register(meter, `late ${meters.length}`)
          if (t.fund !== null) fund(t.fund.resident, meter, t.fund.percent)
        } else if (t.kind === 'fund') {
          fund(t.resident, deviceAt(t.device), t.percent)
        } else if (t.kind === 'burn') {
          const d = deviceAt(t.device)
          const wh = percentOf(a.state.balance(d.publicKey), t.percent)
          a.emit(d, 'burn', { wh, total: (a.state.chain(d.publicKey).reading ?? 0) + wh })
        } else if (t.kind === 'transfer') {
          const d = deviceAt(t.device)
          const body = transferBody(h, a.state, t.contract, target(t.to), percentOf(a.state.balance(d.publicKey), t.percent), t.receipt)
          const before = a.state.balance(d.publicKey)
          const windows = openWindows(a.state).get(toHex(d.publicKey))
          const { result } = a.emit(d, 'transfer', body, tamperDeps(h, a.state, t.deps))
          // Whatever its deps cite: the key is a device.
          expect(result.status === 'rejected' && result.code, `device transfer (${t.contract}, deps ${t.deps.mode})`).toBe(bytesEqual(body.to, d.publicKey) ? 'self-transfer' : 'consumer-burn-only')
          // The rejected op still dates the device's chain: windows that ended before it give their leftover back.
          const returned = closedWindows(windows, a.state, toHex(d.publicKey)).reduce((sum, w) => sum + w.remaining, 0)
          expect(a.state.balance(d.publicKey)).toBe(before - returned)
        } else {
          // The key buys energy from the utility (a retail sale), transfers like any account, then is registered.
          const key = h.island.signer(`early-key-${early++}`)
          const { oracle, utility } = h.island
          const price = a.state.chain(utility.publicKey).retail ?? RETAIL_PRICE
          const cents = Math.min(t.cents, Math.floor(a.state.balance(utility.publicKey) / 2 * price / 1_000_000))
          if (cents > 0) {
            const seq = a.state.chain(oracle.publicKey).length
            a.emit(oracle, 'receipt', { payer: key.publicKey, payee: utility.publicKey, contract: 'retail-seller', amount: cents, currency: a.state.genesis.currency, paymentId: `pi_early_${early}` })
            a.emit(utility, 'transfer', { contract: 'retail-seller', to: key.publicKey, wh: whForPayment(cents, price), receipt: [oracle.publicKey, seq], window: null })
          }
          const received = a.state.balance(key.publicKey)
          const signed: DecodedOp[] = []
          for (const m of t.moves) {
            const body = transferBody(h, a.state, m.contract, target(m.to), percentOf(a.state.balance(key.publicKey), m.percent), m.receipt)
            signed.push(a.emit(key, 'transfer', body, tamperDeps(h, a.state, m.deps)).decoded)
          }
          const rewinds = a.watcher.rewinds
          register(key, `early ${early}`)
          expect(a.watcher.rewinds, 'the registration makes the replica decide the key\'s ops again').toBe(rewinds + 1)
          for (const d of signed) {
            const r = a.watcher.results.get(toHex(d.id))
            expect(r?.status === 'rejected' && r.code, 'a transfer signed before the key was registered').toBe('consumer-burn-only')
          }
          // What the transfers had moved is back: only burns take value from a device.
          expect(a.state.balance(key.publicKey)).toBe(received)
        }
      }
      const all = [...h.ops, ...a.ops]
      // Every transfer by a key registered as a device, in the base history or signed here, whenever signed.
      const deviceTransfers = all.filter(d => d.op.kind === 'transfer' && a.state.isDevice(d.op.author))
      const expectBurnOnly = (w: Watcher): void => {
        for (const d of deviceTransfers) {
          const r = w.results.get(toHex(d.id))
          expect(w.state.statusOf(d.op.author, d.op.seq, d.id)).toBe('rejected')
          expect(r?.status === 'rejected' && r.code).toBe(d.op.kind === 'transfer' && bytesEqual(d.op.body.to, d.op.author) ? 'self-transfer' : 'consumer-burn-only')
        }
      }
      expectBurnOnly(a.watcher)
      // Another replica, any order: the same verdicts, and per op only burns take value from devices.
      const w = watchedReplay(h, ordered(all, order), true)
      expect(w.state.pendingCount).toBe(0)
      expect(stateHash(w.state)).toBe(stateHash(a.state))
      expectBurnOnly(w)
      rewinds += w.rewinds
    }), { numRuns: 300 })
    // Replicas did get device keys' transfers before their registration, and decided them again.
    expect(rewinds).toBeGreaterThan(0)
  })

  it('5. idempotence: re-applying ops or whole batches, also after reopening the storage, is a duplicate and changes nothing', async () => {
    await fc.assert(fc.asyncProperty(
      historyIndex().chain(hi => fc.tuple(
        fc.constant(hi),
        fc.subarray([...Array((pool[hi] as History).ops.length).keys()], { minLength: 1 })
      )),
      orderSpec, batchSizes, fc.array(fc.nat(), { minLength: 1, maxLength: 20 }), batchSizes,
      async ([hi, subset], order, sizes, again, againSizes) => {
        const h = pool[hi] as History
        const storage = new MemoryStorage()
        const ledger = await openLedger(h, storage)
        const delivered = ordered(subset.map(i => h.ops[i] as DecodedOp), order)
        await feed(ledger, delivered, sizes)
        const hash = ledger.stateHash()
        const pending = ledger.state.pendingCount
        const snapshot = (await storage.loadRange([])).map(e => [e.key.join('/'), toHex(e.data)])

        // Single ops again, then the whole delivered set again in other batches.
        for (const i of again) expect((await ledger.apply(at(delivered, i).bytes)).status).toBe('duplicate')
        const repeat = await feed(ledger, delivered, againSizes)
        expect(repeat.map(r => r.status)).toEqual(delivered.map(() => 'duplicate'))
        expect(ledger.stateHash()).toBe(hash)
        expect(ledger.state.pendingCount).toBe(pending)
        expect((await storage.loadRange([])).map(e => [e.key.join('/'), toHex(e.data)])).toEqual(snapshot)

        // Reopened from the same storage: the same state, and everything is still a duplicate.
        const reopened = await Ledger.open({ storage, verifier: fastVerifier })
        expect(reopened.stateHash()).toBe(hash)
        expect(reopened.state.pendingCount).toBe(pending)
        const afterReopen = await feed(reopened, ordered(delivered, { kind: 'reverse' }), againSizes)
        expect(afterReopen.every(r => r.status === 'duplicate')).toBe(true)
        expect(reopened.stateHash()).toBe(hash)
        expect((await storage.loadRange([])).map(e => [e.key.join('/'), toHex(e.data)])).toEqual(snapshot)
      }
    ), { numRuns: 25 })
  })

  it('6. double spend: of two transfers of a resident\'s whole balance, the second is rejected insufficient-funds on every replica', async () => {
    const replica = fc.record({ order: orderSpec, sizes: batchSizes })
    await fc.assert(fc.asyncProperty(
      historyIndex(), fc.nat(), fc.nat(), fc.nat(), fc.array(replica, { minLength: 2, maxLength: 3 }),
      async (hi, residentPick, d1, d2, replicas) => {
        const h = pool[hi] as History
        const a = new Author(h)
        const rich = h.island.residents.filter(r => a.state.balance(r.publicKey) > 0)
        expect(rich.length).toBeGreaterThan(0)
        const r = at(rich, residentPick)
        const b = a.state.balance(r.publicKey)
        const first = a.emit(r, 'transfer', { contract: 'resident', to: at(h.island.devices, d1).meter.publicKey, wh: b, receipt: null, window: null })
        const second = a.emit(r, 'transfer', { contract: 'resident', to: at(h.island.devices, d2).meter.publicKey, wh: b, receipt: null, window: null })
        expect(first.result.status).toBe('applied')
        expect(second.result.status === 'rejected' && second.result.code).toBe('insufficient-funds')
        expect(second.decoded.op.seq).toBe(first.decoded.op.seq + 1)
        expect(a.state.balance(r.publicKey)).toBe(0)
        const all = [...h.ops, ...a.ops]
        for (const { order, sizes } of replicas) {
          const ledger = await openLedger(h)
          const decided = new Map<string, IngestResult>()
          ledger.onOp(res => { if (res.status === 'applied' || res.status === 'rejected') decided.set(toHex(res.id), res) })
          await feed(ledger, ordered(all, order), sizes)
          const v1 = decided.get(toHex(first.decoded.id))
          const v2 = decided.get(toHex(second.decoded.id))
          expect(v1?.status).toBe('applied')
          expect(v2?.status === 'rejected' && v2.code).toBe('insufficient-funds')
          expect(ledger.state.balance(r.publicKey)).toBe(0)
          expect(ledger.state.pendingCount).toBe(0)
          expect(ledger.stateHash()).toBe(stateHash(a.state))
        }
      }
    ), { numRuns: 25 })
  })

  it('7. deterministic replicas: different orders and batch sizes, and reopened, agree on hash, supply and every balance', async () => {
    const replica = fc.record({ order: orderSpec, sizes: batchSizes })
    await fc.assert(fc.asyncProperty(historyIndex(), replica, replica, async (hi, x, y) => {
      const h = pool[hi] as History
      const views = []
      for (const { order, sizes } of [x, y]) {
        const storage = new MemoryStorage()
        const ledger = await openLedger(h, storage)
        await feed(ledger, ordered(h.ops, order), sizes)
        views.push(ledger.state, (await Ledger.open({ storage, verifier: fastVerifier })).state)
      }
      const reference = h.island.state
      const keys = [...h.signers.values()].map(s => s.publicKey)
      for (const s of views) {
        expect(stateHash(s)).toBe(h.hash)
        expect(s.minted).toBe(reference.minted)
        expect(s.burned).toBe(reference.burned)
        expect(s.pendingCount).toBe(0)
        expect(nonZeroBalances(s)).toEqual(nonZeroBalances(reference))
        for (const k of keys) expect(s.balance(k)).toBe(reference.balance(k))
        for (const k of keys) expect(s.spendable(k)).toBe(reference.spendable(k))
      }
    }), { numRuns: 20 })
  })
})
