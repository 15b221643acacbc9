/**
 * LedgerState: the replicated state as a pure function of a set of verified ops. Ops apply in causal
 * order (prev and deps first); whether an op is accepted depends only on the op and its causal past,
 * so any arrival order gives the same state. Signatures are checked before ops get here.
 *
 * Causal past, as the rules read it: an op sees its own chain below it, and every position of another
 * chain its chain has declared in `deps` so far (its frontier). A debit is covered only by credits
 * inside that frontier, so a replica never needs to know what the signer had not seen.
 */
import {
  bytesEqual, compareBytes, fromHex, toHex,
  type DecodedOp, type FundingWindow, type GenesisBody, type OpId, type PublicKey, type ReceiptBody,
  type RegisterBody, type SignedOp, type SignedOpOf
} from '@microgrid/protocol'
import type { Equivocation, ForkResolution } from './forks.ts'
import { maxWhFor, reject, RuleViolation, whForPayment, type RejectCode } from './rules.ts'

export const OpStatus = { accepted: 1, rejected: 2 } as const

export type Role = 'producer' | 'generation-meter' | 'consumer' | 'utility'

export interface Registration {
  role: Role
  registrar: number
  seq: number
  id: OpId
  ts: number
  body: RegisterBody
}

/**
 * The credits one chain gave one account, in seq order: three numbers per credit (one array rather
 * than three keeps the many short lists small) — the seq, the running total, and the running total of
 * the credits that may only be burned (value given to a device as a device).
 */
export interface CreditList {
  entries: number[]
  /** Funding windows of the credits that have one, by entry index. */
  windows: Map<number, FundingWindow> | null
}

export interface WindowAllocation extends FundingWindow {
  remaining: number
}

/** What settlement needs of a receipt, by chain index rather than key, to keep the heap small. */
export interface Receipt {
  payer: number
  payee: number
  contract: ReceiptBody['contract']
  amount: number
  paymentId: string
}

/** One signer's chain and the account of the same key. */
export class Chain {
  readonly idx: number
  readonly key: PublicKey
  readonly hex: string
  /** Applied ops (the surviving line): ids packed 32 bytes each, status per seq. */
  length = 0
  ids = new Uint8Array(32 * 4)
  status = new Uint8Array(4)
  lastTs = 0
  /** Highest seq of each other chain this chain has declared in deps. */
  readonly frontier = new Map<number, number>()
  /** Global balance: every accepted credit minus every accepted debit. */
  balance = 0
  /** Credits inside the frontier (what this account may spend) and its own debits. */
  declared = 0
  spent = 0
  /** Declared credits given to this account as a consumer device and not burned yet: burn-only. */
  burnOnly = 0
  /** Last cumulative meter reading and the ts it was signed at (mints and burns). */
  reading: number | null = null
  readingTs = 0
  wholesale: number | null = null
  retail: number | null = null
  /** Consumer device funding inside the frontier: general and per funding window. */
  windows: WindowAllocation[] | null = null
  /** Credits this chain gave to others, by credited account. */
  readonly credits = new Map<number, CreditList>()
  /** Chains that credited this account: where its next debit should look for deps. */
  readonly creditors = new Set<number>()
  paymentIds: Set<string> | null = null
  frozenFrom = Number.POSITIVE_INFINITY

  constructor (idx: number, key: PublicKey, hex: string) {
    this.idx = idx
    this.key = key
    this.hex = hex
  }

  idAt (seq: number): OpId {
    return this.ids.subarray(seq * 32, seq * 32 + 32)
  }

  push (id: OpId, status: number): void {
    if ((this.length + 1) * 32 > this.ids.length) {
      const ids = new Uint8Array(this.ids.length * 2)
      ids.set(this.ids)
      this.ids = ids
      const st = new Uint8Array(this.status.length * 2)
      st.set(this.status)
      this.status = st
    }
    this.ids.set(id, this.length * 32)
    this.status[this.length] = status
    this.length++
  }
}

export type AddResult =
  | { status: 'applied', id: OpId, op: SignedOp }
  | { status: 'rejected', id: OpId, op: SignedOp, code: RejectCode, reason: string }
  | { status: 'pending', id: OpId, op: SignedOp, missing: Array<[PublicKey, number]> }
  | { status: 'duplicate', id: OpId, op: SignedOp }
  | { status: 'void', id: OpId, op: SignedOp, reason: string }
  | { status: 'frozen', id: OpId, op: SignedOp }
  | { status: 'conflict', id: OpId, op: SignedOp, author: PublicKey, seq: number }

/** Reported for ops that leave the pending set (or the frozen set) and are decided. */
export type DecidedListener = (result: AddResult & { status: 'applied' | 'rejected' }) => void

export interface LedgerStateOptions {
  /** From a fork resolution: ops on losing branches and frozen authors. */
  forks?: ForkResolution
  maxPending?: number
}

export class PendingLimitError extends RangeError {
  override readonly name = 'PendingLimitError'
}

/**
 * Everything a LedgerState holds besides its genesis and options, as the state's own structures: what
 * a snapshot writes (`LedgerState.parts`, live and read-only) and restores (`LedgerState.restore`,
 * which takes ownership). Slots are `${author hex}:${seq}`.
 */
export interface LedgerStateParts {
  /** Every chain, `chains[i].idx === i`. */
  chains: Chain[]
  /** Registrations by registered chain index, in the order made. */
  registrations: Map<number, Registration[]>
  /** Accepted receipts by position (`receiptPosition(oracle index, seq)`). */
  receipts: Map<number, Receipt>
  /** Positions of the receipts a sale settled (a payment id is unique in its oracle's chain). */
  settled: Set<number>
  /** Pending ops by the slot they wait for (the pending set is exactly these lists). */
  waiting: Map<string, DecodedOp[]>
  /** Ops of frozen authors, by their own slot. */
  frozenOps: Map<string, DecodedOp>
  /** Ids of void ops (losing branches, orphans) by their slot. */
  voidSlots: Map<string, OpId[]>
  /** From the fork resolution the state was built under: ids (hex) on losing branches, and the forks. */
  voidIds: ReadonlySet<string>
  equivocations: Equivocation[]
  /** (chain index, seq) of every decided op, in the order decided. */
  order: Uint32Array
  minted: number
  burned: number
}

/** The same structures, as `LedgerState.parts` lends them: to read, never to change. */
export interface LedgerStatePartsView {
  readonly chains: readonly Chain[]
  readonly registrations: ReadonlyMap<number, readonly Registration[]>
  readonly receipts: ReadonlyMap<number, Receipt>
  readonly settled: ReadonlySet<number>
  readonly waiting: ReadonlyMap<string, readonly DecodedOp[]>
  readonly frozenOps: ReadonlyMap<string, DecodedOp>
  readonly voidSlots: ReadonlyMap<string, readonly OpId[]>
  readonly voidIds: ReadonlySet<string>
  readonly equivocations: readonly Equivocation[]
  readonly order: Uint32Array
  readonly minted: number
  readonly burned: number
}

export class LedgerState {
  readonly gridId: OpId
  readonly genesis: GenesisBody
  readonly chains: Chain[] = []
  readonly #byHex = new Map<string, Chain>()
  readonly #registrars = new Set<number>()
  readonly #oracles = new Set<number>()
  #registrations = new Map<number, Registration[]>()
  #receipts = new Map<number, Receipt>()
  #settled = new Set<number>()
  /** Pending ops by the slot they wait for (`author:seq`), and by their own slot. */
  #waiting = new Map<string, DecodedOp[]>()
  readonly #pending = new Map<string, DecodedOp>()
  /** Ops seen but not applied: losing branches and orphans (by `author:seq` -> ids). */
  #voidSlots = new Map<string, OpId[]>()
  #frozenOps = new Map<string, DecodedOp>()
  readonly #voidIds: ReadonlySet<string>
  /** The op that stands at each known fork (hex ids). */
  readonly #survivors: ReadonlySet<string>
  #maxPending: number
  readonly #listeners: DecidedListener[] = []
  minted = 0
  burned = 0
  readonly equivocations: ForkResolution['equivocations']

  constructor (genesis: DecodedOp, options: LedgerStateOptions = {}) {
    if (genesis.op.kind !== 'genesis') throw new TypeError('a ledger starts from a genesis op')
    this.gridId = genesis.id
    this.genesis = genesis.op.body
    this.#genesisAuthor = genesis.op.author
    this.#voidIds = options.forks?.void ?? new Set()
    this.#maxPending = options.maxPending ?? 1_000_000
    this.equivocations = options.forks?.equivocations ?? []
    this.#survivors = new Set(this.equivocations.map(e => e.ids[0] as string))
    for (const [hex, seq] of options.forks?.frozenFrom ?? []) {
      this.#chainFor(fromHex(hex), hex).frozenFrom = seq
    }
    for (const k of this.genesis.registrars) this.#registrars.add(this.chain(k).idx)
    for (const k of this.genesis.oracles) this.#oracles.add(this.chain(k).idx)
    const author = this.chain(genesis.op.author)
    author.lastTs = genesis.op.ts
    author.push(genesis.id, OpStatus.accepted)
  }

  /**
   * A state as it was, from its parts (see `parts`): the inverse of reading them, for snapshots. Takes
   * ownership of the structures given. The rules are not run: the parts must come from a state built
   * on the same genesis.
   */
  static restore (genesis: DecodedOp, parts: LedgerStateParts, options: { maxPending?: number } = {}): LedgerState {
    const frozenFrom = new Map<string, number>()
    for (const c of parts.chains) if (Number.isFinite(c.frozenFrom)) frozenFrom.set(c.hex, c.frozenFrom)
    const forks: ForkResolution = { void: new Set(parts.voidIds), frozenFrom, equivocations: parts.equivocations }
    const state = new LedgerState(genesis, { forks, maxPending: options.maxPending })
    state.#install(genesis, parts)
    return state
  }

  #install (genesis: DecodedOp, parts: LedgerStateParts): void {
    this.chains.length = 0
    this.#byHex.clear()
    for (const c of parts.chains) {
      if (c.idx !== this.chains.length) throw new RangeError(`chain ${c.idx} restored at index ${this.chains.length}`)
      this.chains.push(c)
      this.#byHex.set(c.hex, c)
    }
    const author = this.findChain(genesis.op.author)
    if (author === undefined || author.length === 0 || !bytesEqual(author.idAt(0), genesis.id)) {
      throw new RangeError('the restored chains do not start from this genesis')
    }
    this.#registrars.clear()
    this.#oracles.clear()
    for (const k of this.genesis.registrars) this.#registrars.add(this.chain(k).idx)
    for (const k of this.genesis.oracles) this.#oracles.add(this.chain(k).idx)
    this.#registrations = parts.registrations
    this.#receipts = parts.receipts
    this.#settled = parts.settled
    this.#waiting = parts.waiting
    this.#pending.clear()
    for (const list of parts.waiting.values()) {
      for (const d of list) this.#pending.set(`${toHex(d.op.author)}:${d.op.seq}`, d)
    }
    this.#frozenOps = parts.frozenOps
    this.#voidSlots = parts.voidSlots
    // The snapshot carries (chain, seq) pairs; the log keeps the chains only (each chain's seqs follow).
    const decided = parts.order.length / 2
    const order = new Uint32Array(Math.max(1024, decided + (decided >>> 3)))
    for (let i = 0; i < decided; i++) order[i] = parts.order[2 * i] as number
    this.#order = order
    this.#orderLength = decided
    this.minted = parts.minted
    this.burned = parts.burned
  }

  /**
   * The state's own structures, for a snapshot: live, to read and never to change. Chains, maps and
   * lists are the state's; `order` is a view of its decision log.
   */
  parts (): LedgerStatePartsView {
    return {
      chains: this.chains,
      registrations: this.#registrations,
      receipts: this.#receipts,
      settled: this.#settled,
      waiting: this.#waiting,
      frozenOps: this.#frozenOps,
      voidSlots: this.#voidSlots,
      voidIds: this.#voidIds,
      equivocations: this.equivocations,
      order: this.#orderPairs(),
      minted: this.minted,
      burned: this.burned
    }
  }

  onDecided (listener: DecidedListener): () => void {
    this.#listeners.push(listener)
    return () => { this.#listeners.splice(this.#listeners.indexOf(listener), 1) }
  }

  chain (key: PublicKey): Chain {
    return this.#chainFor(key, toHex(key))
  }

  #chainFor (key: PublicKey, hex: string): Chain {
    let c = this.#byHex.get(hex)
    if (c === undefined) {
      c = new Chain(this.chains.length, key.slice(), hex)
      this.chains.push(c)
      this.#byHex.set(hex, c)
    }
    return c
  }

  findChain (key: PublicKey): Chain | undefined {
    return this.#byHex.get(toHex(key))
  }

  /**
   * Upper bound on the pending set: `add` throws `PendingLimitError` beyond it. A replay of stored ops
   * (acknowledged within the bound, but replayed in storage order) lifts it while it runs.
   */
  get maxPending (): number {
    return this.#maxPending
  }

  set maxPending (n: number) {
    this.#maxPending = n
  }

  get pendingCount (): number {
    return this.#pending.size
  }

  /** Chain positions that pending ops wait for: what a node should fetch from peers. */
  missing (): Array<[PublicKey, number]> {
    const out: Array<[PublicKey, number]> = []
    for (const slot of this.#waiting.keys()) {
      const [hex, seq] = slot.split(':') as [string, string]
      out.push([(this.#byHex.get(hex) as Chain).key, Number(seq)])
    }
    return out
  }

  /** Adds a verified op. Returns what happened to it; pending ops it unblocks are reported to listeners. */
  add (decoded: DecodedOp): AddResult {
    const result = this.#admit(decoded)
    if (result.status === 'applied' || result.status === 'rejected') this.#wake(`${toHex(decoded.op.author)}:${decoded.op.seq}`)
    return result
  }

  #admit (decoded: DecodedOp): AddResult {
    const { op, id } = decoded
    if (op.kind === 'genesis' || op.grid === null || !bytesEqual(op.grid, this.gridId)) {
      return { status: 'void', id, op, reason: 'the op belongs to another grid' }
    }
    const chain = this.chain(op.author)
    const slot = `${chain.hex}:${op.seq}`
    if (this.#voidIds.size > 0 && this.#voidIds.has(toHex(id))) {
      if (this.#seenAsVoid(slot, id)) return { status: 'duplicate', id, op }
      this.#markVoid(slot, id)
      return { status: 'void', id, op, reason: 'on the losing branch of an equivocation' }
    }
    if (op.seq < chain.length) {
      if (bytesEqual(chain.idAt(op.seq), id)) return { status: 'duplicate', id, op }
      return this.#seenAsVoid(slot, id) ? { status: 'duplicate', id, op } : this.#conflict(decoded)
    }
    const queued = this.#pending.get(slot) ?? this.#frozenOps.get(slot)
    if (queued !== undefined) {
      return bytesEqual(queued.id, id) ? { status: 'duplicate', id, op } : this.#conflict(decoded)
    }
    const voided = this.#voidSlots.get(slot)
    if (voided !== undefined) {
      if (voided.some(v => bytesEqual(v, id))) return { status: 'duplicate', id, op }
      if (!this.#survivors.has(toHex(id))) return this.#conflict(decoded)
    }
    if (op.seq > chain.frozenFrom) {
      this.#frozenOps.set(slot, decoded)
      return { status: 'frozen', id, op }
    }
    const missing = this.#missingFor(decoded, chain)
    if (missing.length > 0) {
      if (this.#pending.size >= this.#maxPending) throw new PendingLimitError(`pending set is full (${this.#maxPending} ops)`)
      this.#pending.set(slot, decoded)
      const [hex, seq] = missing[0] as [string, number]
      const key = `${hex}:${seq}`
      const list = this.#waiting.get(key)
      if (list === undefined) this.#waiting.set(key, [decoded])
      else list.push(decoded)
      return { status: 'pending', id, op, missing: missing.map(([h, s]) => [(this.#byHex.get(h) as Chain).key, s]) }
    }
    return this.#apply(decoded, chain)
  }

  /** Re-admits every op that waited for a slot just decided, and what those unblock in turn. */
  #wake (first: string): void {
    const slots = [first]
    while (slots.length > 0) {
      const slot = slots.pop() as string
      const waiting = this.#waiting.get(slot)
      if (waiting === undefined) continue
      this.#waiting.delete(slot)
      for (const decoded of waiting) {
        const own = `${toHex(decoded.op.author)}:${decoded.op.seq}`
        this.#pending.delete(own)
        const result = this.#admit(decoded)
        if (result.status === 'applied' || result.status === 'rejected') {
          for (const l of this.#listeners) l(result)
          slots.push(own)
        }
      }
    }
  }

  #seenAsVoid (slot: string, id: OpId): boolean {
    return this.#voidSlots.get(slot)?.some(v => bytesEqual(v, id)) ?? false
  }

  #markVoid (slot: string, id: OpId): void {
    const list = this.#voidSlots.get(slot)
    if (list === undefined) this.#voidSlots.set(slot, [id.slice()])
    else list.push(id.slice())
  }

  #conflict (decoded: DecodedOp): AddResult {
    return { status: 'conflict', id: decoded.id, op: decoded.op, author: decoded.op.author, seq: decoded.op.seq }
  }

  /** The first unmet requirement is where the op waits; all of them are reported. */
  #missingFor (decoded: DecodedOp, chain: Chain): Array<[string, number]> {
    const { op } = decoded
    const missing: Array<[string, number]> = []
    if (op.seq > chain.length) missing.push([chain.hex, op.seq - 1])
    for (const [key, seq] of op.deps) {
      const dep = this.chain(key)
      if (seq >= dep.length) missing.push([dep.hex, seq])
    }
    return missing
  }

  #apply (decoded: DecodedOp, chain: Chain): AddResult {
    const { op, id } = decoded
    const slot = `${chain.hex}:${op.seq}`
    if (op.seq > 0 && (op.prev === null || !bytesEqual(op.prev, chain.idAt(op.seq - 1)))) {
      this.#markVoid(slot, id)
      return { status: 'void', id, op, reason: `prev does not name the op at seq ${op.seq - 1} of its author` }
    }
    for (const [key, seq] of op.deps) {
      const dep = this.chain(key)
      const before = chain.frontier.get(dep.idx) ?? -1
      if (seq > before) {
        this.#declareCredits(chain, dep, before, seq)
        chain.frontier.set(dep.idx, seq)
      }
    }
    const violation = op.ts < chain.lastTs
      ? reject('ts-backwards', `ts ${op.ts} is before the previous op's ts ${chain.lastTs}`)
      : this.#check(decoded, chain)
    chain.lastTs = Math.max(chain.lastTs, op.ts)
    this.#logOrder(chain.idx)
    if (violation !== undefined) {
      chain.push(id, OpStatus.rejected)
      return { status: 'rejected', id, op, code: violation.code, reason: violation.message }
    }
    chain.push(id, OpStatus.accepted)
    return { status: 'applied', id, op }
  }

  /**
   * The chain index of every decided op, in the order decided: a causal order to send ops in. A chain's
   * ops are decided in seq order from 0 (from 1 for the genesis author), so the seqs need no room.
   */
  #order = new Uint32Array(1024)
  #orderLength = 0
  readonly #genesisAuthor: PublicKey

  #logOrder (chain: number): void {
    if (this.#orderLength === this.#order.length) {
      const grown = new Uint32Array(this.#order.length * 2)
      grown.set(this.#order)
      this.#order = grown
    }
    this.#order[this.#orderLength++] = chain
  }

  /** Every decided op as [chain, seq], each after everything it depends on (the genesis excluded). */
  * decidedInOrder (): Generator<[Chain, number]> {
    const next = new Map<number, number>()
    const genesisAuthor = this.findChain(this.#genesisAuthor)?.idx
    for (let i = 0; i < this.#orderLength; i++) {
      const idx = this.#order[i] as number
      const seq = next.get(idx) ?? (idx === genesisAuthor ? 1 : 0)
      next.set(idx, seq + 1)
      yield [this.chains[idx] as Chain, seq]
    }
  }

  /** The decision log as (chain, seq) pairs, as a snapshot stores it. */
  #orderPairs (): Uint32Array {
    const pairs = new Uint32Array(2 * this.#orderLength)
    let i = 0
    for (const [chain, seq] of this.decidedInOrder()) { pairs[i++] = chain.idx; pairs[i++] = seq }
    return pairs
  }

  get decidedCount (): number {
    return this.#orderLength
  }

  /** Credits from `from`'s ops in (before, upto] to `to` enter `to`'s frontier. */
  #declareCredits (to: Chain, from: Chain, before: number, upto: number): void {
    const list = from.credits.get(to.idx)
    if (list === undefined) return
    const e = list.entries
    let i = creditsUpTo(e, before)
    const end = creditsUpTo(e, upto)
    if (i >= end) return
    to.declared += (e[3 * end - 2] as number) - (i > 0 ? e[3 * i - 2] as number : 0)
    to.burnOnly += (e[3 * end - 1] as number) - (i > 0 ? e[3 * i - 1] as number : 0)
    for (; i < end; i++) {
      const window = list.windows?.get(i)
      if (window !== undefined) (to.windows ??= []).push({ from: window.from, until: window.until, remaining: (e[3 * i + 1] as number) - (i > 0 ? e[3 * i - 2] as number : 0) })
    }
  }

  #credit (from: Chain, seq: number, to: Chain, wh: number, window: FundingWindow | null, burnOnly: boolean): void {
    let list = from.credits.get(to.idx)
    if (list === undefined) from.credits.set(to.idx, list = { entries: [], windows: null })
    const e = list.entries
    const n = e.length
    e.push(seq, (n > 0 ? e[n - 2] as number : 0) + wh, (n > 0 ? e[n - 1] as number : 0) + (burnOnly ? wh : 0))
    if (window !== null) (list.windows ??= new Map()).set(n / 3, window)
    to.creditors.add(from.idx)
    to.balance += wh
  }

  /** Whether `viewer` (about to apply its op at seq viewer.length) sees `author`'s op at `seq`. */
  #sees (viewer: Chain, author: number, seq: number): boolean {
    if (author === viewer.idx) return seq < viewer.length
    return (viewer.frontier.get(author) ?? -1) >= seq
  }

  /** The registration of `key` the viewer sees; among several, the lowest op id decides. */
  registrationSeenBy (viewer: Chain, key: Chain): Registration | undefined {
    const list = this.#registrations.get(key.idx)
    if (list === undefined) return undefined
    let best: Registration | undefined
    for (const r of list) {
      if (this.#sees(viewer, r.registrar, r.seq) && (best === undefined || compareBytes(r.id, best.id) < 0)) best = r
    }
    return best
  }

  /** The registration of `key` on the whole ledger (for views, not for rules). */
  registrationOf (key: PublicKey): Registration | undefined {
    const c = this.findChain(key)
    const list = c === undefined ? undefined : this.#registrations.get(c.idx)
    if (list === undefined) return undefined
    return list.reduce((a, b) => compareBytes(a.id, b.id) <= 0 ? a : b)
  }

  #check (decoded: DecodedOp, chain: Chain): RuleViolation | undefined {
    const { op } = decoded
    switch (op.kind) {
      case 'register': return this.#register(decoded as DecodedOpOf<'register'>, chain)
      case 'price': return this.#price(decoded as DecodedOpOf<'price'>, chain)
      case 'mint': return this.#generator(decoded as DecodedOpOf<'mint'>, chain)
      case 'receipt': return this.#receipt(decoded as DecodedOpOf<'receipt'>, chain)
      case 'transfer': return this.#transfer(decoded as DecodedOpOf<'transfer'>, chain)
      case 'burn': return this.#consumer(decoded as DecodedOpOf<'burn'>, chain)
      case 'unfreeze': return this.#registrars.has(chain.idx) ? undefined : reject('not-registrar', 'only a registrar may lift a freeze')
      case 'genesis': return reject('not-registrar', 'a grid has one genesis')
    }
  }

  #register ({ op, id }: DecodedOpOf<'register'>, chain: Chain): RuleViolation | undefined {
    if (!this.#registrars.has(chain.idx)) return reject('not-registrar', 'only a registrar of the genesis may register')
    const body = op.body
    const entries: Array<[PublicKey, Role]> = body.role === 'producer'
      ? [[body.account, 'producer'], [body.meter, 'generation-meter']]
      : body.role === 'consumer' ? [[body.meter, 'consumer']] : [[body.account, 'utility']]
    for (const [key] of entries) {
      if (this.registrationSeenBy(chain, this.chain(key)) !== undefined) {
        return reject('already-registered', `${toHex(key).slice(0, 12)}… is already registered`)
      }
    }
    for (const [key, role] of entries) {
      const idx = this.chain(key).idx
      const reg: Registration = { role, registrar: chain.idx, seq: op.seq, id, ts: op.ts, body }
      const list = this.#registrations.get(idx)
      if (list === undefined) this.#registrations.set(idx, [reg])
      else list.push(reg)
    }
    return undefined
  }

  #price ({ op }: DecodedOpOf<'price'>, chain: Chain): RuleViolation | undefined {
    const role = this.registrationSeenBy(chain, chain)?.role
    if (role !== 'producer' && role !== 'utility') return reject('not-seller', 'only a registered producer or utility sets prices')
    if (op.body.wholesale !== null) chain.wholesale = op.body.wholesale
    if (op.body.retail !== null) chain.retail = op.body.retail
    return undefined
  }

  /** Contract generator: a registered meter mints for its producer, within what its capacity allows. */
  #generator ({ op }: DecodedOpOf<'mint'>, meter: Chain): RuleViolation | undefined {
    const reg = this.registrationSeenBy(meter, meter)
    if (reg?.role !== 'generation-meter' || reg.body.role !== 'producer') return reject('not-meter', 'only a registered generation meter mints')
    const { wh, total } = op.body
    const previous = meter.reading ?? total - wh
    if (total !== previous + wh) return reject('reading-mismatch', `reading ${total} ≠ previous reading ${previous} + ${wh} Wh`)
    const since = meter.reading === null ? reg.ts : meter.readingTs
    const limit = maxWhFor(reg.body.capacityW, op.ts - since)
    if (wh > limit) return reject('implausible-mint', `${wh} Wh in ${op.ts - since} ms exceeds ${reg.body.capacityW} W capacity (at most ${limit} Wh)`)
    if (this.minted + wh > Number.MAX_SAFE_INTEGER) return reject('overflow', 'total supply would exceed the safe integer range')
    meter.reading = total
    meter.readingTs = op.ts
    this.minted += wh
    this.#credit(meter, op.seq, this.chain(reg.body.account), wh, null, false)
    return undefined
  }

  #receipt ({ op }: DecodedOpOf<'receipt'>, oracle: Chain): RuleViolation | undefined {
    if (!this.#oracles.has(oracle.idx)) return reject('not-oracle', 'only a payment oracle of the genesis signs receipts')
    if (op.body.currency !== this.genesis.currency) return reject('wrong-currency', `the grid trades in ${this.genesis.currency}, not ${op.body.currency}`)
    oracle.paymentIds ??= new Set()
    if (oracle.paymentIds.has(op.body.paymentId)) return reject('duplicate-payment', `payment ${op.body.paymentId} already has a receipt`)
    oracle.paymentIds.add(op.body.paymentId)
    const { payer, payee, contract, amount, paymentId } = op.body
    this.#receipts.set(receiptPosition(oracle.idx, op.seq), { payer: this.chain(payer).idx, payee: this.chain(payee).idx, contract, amount, paymentId })
    return undefined
  }

  #transfer (decoded: DecodedOpOf<'transfer'>, from: Chain): RuleViolation | undefined {
    const { op } = decoded
    const body = op.body
    const to = this.chain(body.to)
    if (to.idx === from.idx) return reject('self-transfer', 'an account cannot pay itself')
    if (this.registrationSeenBy(from, from)?.role === 'consumer') {
      return reject('consumer-burn-only', 'a consumer account only burns: value never leaves it otherwise')
    }
    let settles: number | undefined
    if (body.contract === 'resident') {
      if (this.registrationSeenBy(from, to)?.role !== 'consumer') return reject('not-device', 'contract resident funds registered consumer devices only')
    } else {
      const sale = this.#sale(decoded, from, to)
      if (sale instanceof RuleViolation) return sale
      settles = sale
    }
    // Value given to a device as a device is burn-only, whatever registrations this op's deps show.
    const available = from.declared - from.spent - from.burnOnly
    if (body.wh > available) return reject('insufficient-funds', `${body.wh} Wh asked, ${available} Wh transferable within the credits this op's deps declare`)
    from.spent += body.wh
    from.balance -= body.wh
    const toDevice = body.contract === 'resident' || this.registrationSeenBy(from, to)?.role === 'consumer'
    this.#credit(from, op.seq, to, body.wh, body.window, toDevice)
    if (settles !== undefined) this.#settled.add(settles)
    return undefined
  }

  /** Contracts wholesale-seller and retail-seller: the amount is fixed by the receipt and the seller's price. */
  #sale ({ op }: DecodedOpOf<'transfer'>, seller: Chain, buyer: Chain): RuleViolation | number {
    const body = op.body
    if (body.receipt === null) return reject('not-a-receipt', 'a sale cites the receipt it settles')
    const oracle = this.chain(body.receipt[0])
    if (!this.#sees(seller, oracle.idx, body.receipt[1])) return reject('receipt-not-in-deps', 'the cited receipt is not within this op\'s deps')
    const key = receiptPosition(oracle.idx, body.receipt[1])
    const receipt = this.#receipts.get(key)
    if (receipt === undefined) return reject('not-a-receipt', 'the cited op is not an accepted receipt')
    if (receipt.contract !== body.contract) return reject('wrong-contract', `the receipt is for ${receipt.contract}, not ${body.contract}`)
    if (receipt.payee !== seller.idx) return reject('wrong-payee', 'only the payee of a receipt settles it')
    if (receipt.payer !== buyer.idx) return reject('wrong-recipient', 'a sale credits the payer of its receipt')
    const role = this.registrationSeenBy(seller, seller)?.role
    if (body.contract === 'wholesale-seller') {
      if (role !== 'producer') return reject('not-seller', 'wholesale sellers are registered producers')
      if (this.registrationSeenBy(seller, buyer)?.role !== 'utility') return reject('not-utility', 'wholesale buyers are registered utilities')
    } else if (role !== 'producer' && role !== 'utility') {
      return reject('not-seller', 'retail sellers are registered utilities or producers')
    }
    if (this.#settled.has(key)) return reject('already-settled', `payment ${receipt.paymentId} is already settled`)
    const price = body.contract === 'wholesale-seller' ? seller.wholesale : seller.retail
    if (price === null) return reject('no-price', `the seller has no ${body.contract === 'wholesale-seller' ? 'wholesale' : 'retail'} price`)
    const wh = whForPayment(receipt.amount, price)
    if (wh === 0) return reject('payment-too-small', `${receipt.amount} minor units buy less than 1 Wh at ${price} per MWh`)
    if (body.wh !== wh) return reject('wrong-amount', `⌊${receipt.amount} × 1,000,000 ÷ ${price}⌋ = ${wh} Wh, not ${body.wh}`)
    return key
  }

  /** Contract consumer: only the device's meter burns, from funds usable at the burn's time. */
  #consumer ({ op }: DecodedOpOf<'burn'>, device: Chain): RuleViolation | undefined {
    if (this.registrationSeenBy(device, device)?.role !== 'consumer') return reject('not-device', 'only a registered consumer device\'s meter burns')
    const { wh, total } = op.body
    const previous = device.reading ?? total - wh
    if (total !== previous + wh) return reject('reading-mismatch', `reading ${total} ≠ previous reading ${previous} + ${wh} Wh`)
    const t = op.ts
    const windows = device.windows
    let general = device.declared - device.spent
    let usable = 0
    if (windows !== null) {
      for (const w of windows) {
        general -= w.remaining
        if (w.from <= t && t < w.until) usable += w.remaining
        else if (w.until <= t) usable += w.remaining
      }
    }
    usable += general
    if (wh > usable) return reject('insufficient-funds', `${wh} Wh burned, ${usable} Wh funded for ts ${t}`)
    if (windows !== null) {
      // Lapsed windows join the general funds; open windows are drawn first, earliest end first.
      device.windows = windows.filter(w => w.until > t)
      let left = wh
      const open = device.windows.filter(w => w.from <= t).sort((a, b) => a.until - b.until)
      for (const w of open) {
        const take = Math.min(w.remaining, left)
        w.remaining -= take
        left -= take
        if (left === 0) break
      }
      device.windows = device.windows.filter(w => w.remaining > 0)
      if (device.windows.length === 0) device.windows = null
    }
    device.reading = total
    device.readingTs = t
    device.burnOnly -= Math.min(wh, device.burnOnly)
    device.spent += wh
    device.balance -= wh
    this.burned += wh
    return undefined
  }

  /** What `account` may spend now on its own chain: declared credits minus its debits. */
  spendable (key: PublicKey): number {
    const c = this.findChain(key)
    return c === undefined ? 0 : c.declared - c.spent
  }

  balance (key: PublicKey): number {
    return this.findChain(key)?.balance ?? 0
  }

  /** Whether a sale settled the oracle's receipt for `paymentId` (a scan: for views, not for rules). */
  isSettled (oracle: PublicKey, paymentId: string): boolean {
    const c = this.findChain(oracle)
    if (c === undefined) return false
    for (const position of this.#settled) {
      if (Math.floor(position / RECEIPT_SPAN) === c.idx && this.#receipts.get(position)?.paymentId === paymentId) return true
    }
    return false
  }

  receiptAt (oracle: PublicKey, seq: number): ReceiptBody | undefined {
    const c = this.findChain(oracle)
    const r = c === undefined ? undefined : this.#receipts.get(receiptPosition(c.idx, seq))
    if (r === undefined) return undefined
    const key = (idx: number): PublicKey => (this.chains[idx] as Chain).key
    return { payer: key(r.payer), payee: key(r.payee), contract: r.contract, amount: r.amount, currency: this.genesis.currency, paymentId: r.paymentId }
  }

  get settledCount (): number {
    return this.#settled.size
  }

  isRegistrar (key: PublicKey): boolean {
    const c = this.findChain(key)
    return c !== undefined && this.#registrars.has(c.idx)
  }

  isOracle (key: PublicKey): boolean {
    const c = this.findChain(key)
    return c !== undefined && this.#oracles.has(c.idx)
  }

  /** Every registration on the ledger, one per registered key (lowest op id wins). */
  * registrations (): IterableIterator<{ key: PublicKey, role: Role, body: RegisterBody }> {
    for (const [idx, list] of this.#registrations) {
      const best = list.reduce((a, b) => compareBytes(a.id, b.id) <= 0 ? a : b)
      yield { key: (this.chains[idx] as Chain).key, role: best.role, body: best.body }
    }
  }

  /** Funding windows a device's meter has declared and not yet used up or lapsed. */
  windowsOf (device: PublicKey): ReadonlyArray<Readonly<WindowAllocation>> {
    return this.findChain(device)?.windows ?? []
  }

  /** What became of the op `id` at (author, seq): decided, waiting, frozen, void or unknown. */
  statusOf (author: PublicKey, seq: number, id: OpId): 'accepted' | 'rejected' | 'pending' | 'frozen' | 'void' | 'unknown' {
    const c = this.findChain(author)
    if (c === undefined) return 'unknown'
    if (seq < c.length && bytesEqual(c.idAt(seq), id)) return c.status[seq] === OpStatus.accepted ? 'accepted' : 'rejected'
    // The common case on ingest, a new op and nothing set aside: no slot lookups.
    if (this.#pending.size === 0 && this.#frozenOps.size === 0 && this.#voidSlots.size === 0) return 'unknown'
    const slot = `${c.hex}:${seq}`
    const pending = this.#pending.get(slot)
    if (pending !== undefined && bytesEqual(pending.id, id)) return 'pending'
    const frozen = this.#frozenOps.get(slot)
    if (frozen !== undefined && bytesEqual(frozen.id, id)) return 'frozen'
    if (this.#seenAsVoid(slot, id)) return 'void'
    return 'unknown'
  }

  frozenAccounts (): PublicKey[] {
    return this.chains.filter(c => Number.isFinite(c.frozenFrom)).map(c => c.key)
  }
}

type DecodedOpOf<K extends SignedOp['kind']> = DecodedOp & { op: SignedOpOf<K> }

/** How many credits of a list have a seq ≤ `seq` (binary search over the seqs, every third number). */
export function creditsUpTo (entries: readonly number[], seq: number): number {
  let lo = 0
  let hi = entries.length / 3
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if ((entries[3 * mid] as number) <= seq) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** Receipts are keyed by position: oracle chain index × 2^32 + seq, one number instead of a string. */
export const RECEIPT_SPAN = 2 ** 32

export function receiptPosition (oracle: number, seq: number): number {
  return oracle * RECEIPT_SPAN + seq
}
