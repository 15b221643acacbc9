/**
 * LedgerState: the replicated state as a pure function of a set of verified ops.
 *
 * How the pieces talk:
 *   chain.ts        one signer's chain and account (decided ops, frontier, figures)
 *   key-index.ts    chains by key bytes (no hex string per lookup)
 *   admission.ts    ops held but not decided: pending (causal past missing), frozen, void
 *   forks.ts        which of an author's ops stand when it signed two at one seq
 *   credits.ts      credit lists (a debit's cover is a binary search per dep) and device funding
 *   contracts/      the rules, one module per contract or op kind: op + causal view -> effect | rejection
 *   receipts.ts     receipts by position, payment ids
 *   planRewind,     (below) deciding ops again after a fact that changes past verdicts (a fork, an
 *   rewind          unfreeze, a late device registration): only the chains it touches, never the history
 *   views.ts        read-only queries for nodes, meters and the UI
 *   snapshot.ts     the whole state as bytes
 *
 * Ops apply in causal order (prev and deps first); whether an op is accepted depends only on the op
 * and its causal past — its own chain below it and every position of other chains its chain has
 * declared in `deps` (its frontier) — and on two facts of the op set that no deps can hide: which ops
 * stand at a fork, and which keys a registrar registered as consumer devices. When such a fact
 * changes, the ops it affects are decided again (`dirty`, then `planRewind` and `rewind`).
 */
import {
  bytesEqual, policyOf, toHex,
  type DecodedOp, type FundingWindow, type GenesisBody, type OpId, type PublicKey, type ReceiptBody,
  type RegisterBody
} from '@microgrid/protocol'
import { HeldOps, slotKey } from './admission.ts'
import { Chain, OpStatus, type ChainView } from './chain.ts'
import { check, type CausalView, type Effect, type Receipt, type Registration, type Role } from './contracts/index.ts'
import { DeviceFunds, type CreditList } from './credits.ts'
import type { Equivocation } from './forks.ts'
import { KeyIndex } from './key-index.ts'
import { positionChain, positionSeq, receiptPosition, ReceiptStore } from './receipts.ts'
import { reject, RuleViolation, type RejectCode } from './rules.ts'

export { OpStatus, Chain }
export type { ChainView }
export type { Registration, Receipt, Role }

export type AddResult =
  | { status: 'applied', id: OpId, op: DecodedOp['op'] }
  | { status: 'rejected', id: OpId, op: DecodedOp['op'], code: RejectCode, reason: string }
  | { status: 'pending', id: OpId, op: DecodedOp['op'], missing: Array<[PublicKey, number]> }
  | { status: 'duplicate', id: OpId, op: DecodedOp['op'] }
  | { status: 'void', id: OpId, op: DecodedOp['op'], reason: string }
  | { status: 'frozen', id: OpId, op: DecodedOp['op'] }
  /** A fork whose new op has the lower id: its author's ops are decided again (see `dirty`). */
  | { status: 'conflict', id: OpId, op: DecodedOp['op'], author: PublicKey, seq: number }

/** Reported for ops decided after they were added: unblocked pending ops, and ops decided again. */
export type DecidedListener = (result: AddResult & { status: 'applied' | 'rejected' }) => void

export interface LedgerStateOptions {
  maxPending?: number
  /**
   * Keep every op added, so the state can decide ops again by itself (a `Ledger` reads them back from
   * storage instead). For tests and simulations.
   */
  retainOps?: boolean
}

export class PendingLimitError extends RangeError {
  override readonly name = 'PendingLimitError'
}

/** Raised when ops cannot be decided again: the ops of a chain to rewind are not all available. */
export class RewindError extends Error {
  override readonly name = 'RewindError'
}

export type RewindPlan = { need: number[] } | { cuts: Map<number, number> }

const OTHER_GRID = 'the op belongs to another grid'

export class LedgerState {
  readonly gridId: OpId
  readonly genesis: GenesisBody
  readonly genesisOp: DecodedOp
  readonly mintSlackMs: number
  readonly #chains: Chain[] = []
  readonly #byHex = new Map<string, Chain>()
  /** Chains by key bytes: no hex string per lookup on the path of every op. */
  readonly #byKey = new KeyIndex(idx => (this.#chains[idx] as Chain).key)
  readonly #registrars = new Set<number>()
  readonly #oracles = new Set<number>()
  #genesisChain: Chain
  #registrations = new Map<number, Registration[]>()
  /** Accepted receipts by position, their payment ids, and which seller settled each. */
  #receipts = new ReceiptStore()
  /** Keys a registrar registered as consumer devices, in any op of the set. */
  #devices = new Set<number>()
  /** Applied unfreezes per fork (`${chain}:${seq}`). */
  #pardons = new Map<string, number>()
  /** Known forks by `${author hex}:${seq}`, and their seqs per chain. */
  #equivocations = new Map<string, Equivocation>()
  #forksOf = new Map<number, Set<number>>()
  #held = new HeldOps()
  /** Chains whose ops from a seq up must be decided again. */
  readonly #dirty = new Map<number, number>()
  readonly #retained: Map<number, DecodedOp[]> | null
  #maxPending: number
  #rewinding = false
  readonly #listeners: DecidedListener[] = []
  /** The chain index of every decided op (the genesis excluded), in the order decided. */
  #order = new Uint32Array(1024)
  #orderLength = 0
  /**
   * Where each chain's first entry is in the decision log (-1 for none), so deciding a few chains
   * again passes over the log from the earliest of them only (a fork of a new key: its last entries).
   * Made at the first rewind, kept after.
   */
  #firstLog: Int32Array | null = null
  minted = 0
  burned = 0
  readonly #view: View

  constructor (genesis: DecodedOp, options: LedgerStateOptions = {}) {
    if (genesis.op.kind !== 'genesis') throw new TypeError('a ledger starts from a genesis op')
    this.gridId = genesis.id
    this.genesis = genesis.op.body
    this.genesisOp = genesis
    this.mintSlackMs = policyOf(this.genesis).mintSlackMs
    this.#maxPending = options.maxPending ?? 1_000_000
    this.#retained = options.retainOps === true ? new Map() : null
    for (const k of this.genesis.registrars) this.#registrars.add(this.chain(k).idx)
    for (const k of this.genesis.oracles) this.#oracles.add(this.chain(k).idx)
    for (const idx of [...this.#registrars, ...this.#oracles]) (this.#chains[idx] as Chain).tsAt = new Float64Array(16)
    this.#genesisChain = this.#chainOf(genesis.op.author)
    this.#startGenesisChain()
    this.#view = new View(this)
  }

  #startGenesisChain (): void {
    const c = this.#genesisChain
    c.lastTs = this.genesisOp.op.ts
    c.push(this.genesisOp.id, OpStatus.accepted, this.genesisOp.op.ts)
  }

  /** Every chain the state knows, by index (indices follow arrival order: compare replicas by key). */
  get chains (): readonly ChainView[] {
    return this.#chains
  }

  onDecided (listener: DecidedListener): () => void {
    this.#listeners.push(listener)
    return () => { this.#listeners.splice(this.#listeners.indexOf(listener), 1) }
  }

  /** The chain of `key` (an empty one if the state has not seen it yet). */
  chain (key: PublicKey): ChainView {
    return this.#chainOf(key)
  }

  #chainOf (key: PublicKey): Chain {
    const idx = this.#byKey.get(key)
    if (idx >= 0) return this.#chains[idx] as Chain
    const c = new Chain(this.#chains.length, key.slice(), toHex(key))
    this.#chains.push(c)
    this.#byHex.set(c.hex, c)
    this.#byKey.add(c.key, c.idx)
    return c
  }

  #find (key: PublicKey): Chain | undefined {
    const idx = this.#byKey.get(key)
    return idx >= 0 ? this.#chains[idx] : undefined
  }

  findChain (key: PublicKey): ChainView | undefined {
    return this.#find(key)
  }

  chainByHex (hex: string): ChainView | undefined {
    return this.#byHex.get(hex)
  }

  /** Upper bound on the pending set: `add` throws `PendingLimitError` beyond it. */
  get maxPending (): number {
    return this.#maxPending
  }

  set maxPending (n: number) {
    this.#maxPending = n
  }

  get pendingCount (): number {
    return this.#held.pending.size
  }

  /** Chain positions that pending ops wait for: what a node should fetch from peers. */
  missing (): Array<[PublicKey, number]> {
    const out: Array<[PublicKey, number]> = []
    for (const slot of this.#held.waiting.keys()) {
      const at = slot.indexOf(':')
      out.push([(this.#chains[Number(slot.slice(0, at))] as Chain).key, Number(slot.slice(at + 1))])
    }
    return out
  }

  // -------------------------------------------------------------------------------------------------
  // Adding ops

  /** Adds a verified op. Returns what happened to it; ops it unblocks are reported to listeners. */
  add (decoded: DecodedOp): AddResult {
    const result = this.#admit(decoded)
    if (result.status === 'applied' || result.status === 'rejected') this.#wake(decoded.op.author, decoded.op.seq)
    if (this.#retained !== null && this.#dirty.size > 0) {
      this.settleWith(idx => this.#retained?.get(idx) ?? [])
      if (result.status === 'conflict' || result.status === 'applied' || result.status === 'rejected') return this.#finalStatus(result)
    }
    return result
  }

  /** After ops were decided again: what became of an op reported earlier. */
  #finalStatus (r: AddResult): AddResult {
    const { id, op } = r
    switch (this.statusOf(op.author, op.seq, id)) {
      case 'accepted': return { status: 'applied', id, op }
      case 'rejected': return r.status === 'rejected' ? r : { status: 'rejected', id, op, code: 'insufficient-funds', reason: 'rejected once the ops were decided again' }
      case 'frozen': return { status: 'frozen', id, op }
      case 'pending': return { status: 'pending', id, op, missing: [] }
      default: return { status: 'void', id, op, reason: 'on the losing branch of an equivocation' }
    }
  }

  /** Whether ops must be decided again before the state is final (see `planRewind`, `rewind`). */
  get dirty (): boolean {
    return this.#dirty.size > 0
  }

  /** Decides again every op that needs it, reading ops from `opsOf` (every op of a chain, any order). */
  settleWith (opsOf: (chain: number) => readonly DecodedOp[]): void {
    for (let round = 0; this.#dirty.size > 0; round++) {
      if (round > 1000) throw new RewindError('ops kept changing verdicts while decided again')
      const loaded = new Map<number, readonly DecodedOp[]>()
      let plan = this.planRewind(loaded)
      while ('need' in plan) {
        for (const idx of plan.need) loaded.set(idx, opsOf(idx))
        plan = this.planRewind(loaded)
      }
      this.rewind(plan.cuts, loaded)
    }
  }

  #admit (decoded: DecodedOp): AddResult {
    const { op, id } = decoded
    if (op.kind === 'genesis' || op.grid === null || !bytesEqual(op.grid, this.gridId)) {
      return { status: 'void', id, op, reason: OTHER_GRID }
    }
    const chain = this.#chainOf(op.author)
    if (op.seq < chain.length) {
      if (bytesEqual(chain.idAt(op.seq), id)) return { status: 'duplicate', id, op }
      if (!this.#held.empty && this.#held.status(toHex(id)) !== undefined) return { status: 'duplicate', id, op }
      this.#retain(chain, decoded)
      this.#noteSetFacts(decoded)
      if (chain === this.#genesisChain && op.seq === 0) return this.#void(chain, decoded, 'seq 0 of the genesis author is the genesis')
      const prevOk = op.seq === 0 ? op.prev === null : op.prev !== null && bytesEqual(op.prev, chain.idAt(op.seq - 1))
      if (!prevOk) return this.#void(chain, decoded, `prev does not name the surviving op at seq ${op.seq - 1} of its author`)
      return this.#fork(chain, decoded)
    }
    if (!this.#held.empty && this.#held.status(toHex(id)) !== undefined) return { status: 'duplicate', id, op }
    if (!this.#rewinding) this.#retain(chain, decoded)
    this.#noteSetFacts(decoded)
    if (op.seq === chain.length && op.seq > 0 && (op.prev === null || !bytesEqual(op.prev, chain.idAt(op.seq - 1)))) {
      return this.#void(chain, decoded, `prev does not name the surviving op at seq ${op.seq - 1} of its author`)
    }
    if (op.seq > chain.frozenFrom) {
      this.#held.addFrozen(chain.idx, decoded)
      // Ops that waited for this position are above the freeze too.
      if (this.#held.waiting.size > 0) this.#freezeWaiting(chain, op.seq)
      return { status: 'frozen', id, op }
    }
    let missing = this.#missingFor(decoded, chain)
    // A candidate with a lower id at this position is waiting for its past: it stands if anything
    // does, so this one waits for the position to be decided.
    if (missing === undefined && this.#held.pending.size > 0 && this.#lowerCandidateWaits(chain, decoded)) missing = [chain.idx, op.seq]
    if (missing !== undefined) {
      if (this.#held.pending.size >= this.#maxPending) throw new PendingLimitError(`pending set is full (${this.#maxPending} ops)`)
      this.#held.addPending(decoded, chain.idx, slotKey(missing[0], missing[1]))
      return { status: 'pending', id, op, missing: this.#allMissing(decoded, chain) }
    }
    const result = this.#apply(decoded, chain, false)
    // Other ops waiting at this position (their past is not here yet) have higher ids: they lost.
    if (this.#held.pending.size > 0) for (const rival of this.#held.takePendingAt(chain.idx, op.seq)) this.#admit(rival)
    return result
  }

  #lowerCandidateWaits (chain: Chain, decoded: DecodedOp): boolean {
    const at = this.#held.pendingAt(chain.idx, decoded.op.seq)
    if (at === undefined) return false
    const prev = decoded.op.prev
    return at.some(o => compareIds(o.id, decoded.id) < 0 && (prev === null ? o.op.prev === null : o.op.prev !== null && bytesEqual(o.op.prev, prev)))
  }

  #freezeWaiting (chain: Chain, seq: number): void {
    const waiting = this.#held.takeWaiting(slotKey(chain.idx, seq))
    if (waiting === undefined) return
    for (const d of waiting) this.#admit(d)
  }

  #retain (chain: Chain, decoded: DecodedOp): void {
    if (this.#retained === null) return
    const list = this.#retained.get(chain.idx)
    if (list === undefined) this.#retained.set(chain.idx, [decoded])
    else list.push(decoded)
  }

  /** Facts of the op set that no deps can hide: a registrar's word that a key is a consumer device. */
  #noteSetFacts (decoded: DecodedOp): void {
    const { op } = decoded
    if (op.kind !== 'register' || op.body.role !== 'consumer') return
    const registrar = this.#find(op.author)
    if (registrar === undefined || !this.#registrars.has(registrar.idx)) return
    const device = this.#chainOf(op.body.meter)
    if (this.#devices.has(device.idx)) return
    this.#devices.add(device.idx)
    // Its ops were decided as an ordinary account's: decide them again as a device's.
    if (device.length > 0) this.#markDirty(device.idx, 0)
  }

  #void (chain: Chain, decoded: DecodedOp, reason: string): AddResult {
    this.#held.addVoid(chain.idx, decoded.op.seq, toHex(decoded.id))
    return { status: 'void', id: decoded.id, op: decoded.op, reason }
  }

  /** A second op at a decided position with the same prev: an equivocation. */
  #fork (chain: Chain, decoded: DecodedOp): AddResult {
    const { op, id } = decoded
    const seq = op.seq
    const standing = chain.idAt(seq)
    this.#noteFork(chain, seq, [toHex(standing), toHex(id)])
    if (compareIds(id, standing) < 0) {
      // The new op stands: the chain is decided again from here (and whatever relied on it).
      this.#held.addVoid(chain.idx, seq, toHex(id))
      this.#markDirty(chain.idx, seq)
      return { status: 'conflict', id, op, author: op.author, seq }
    }
    this.#held.addVoid(chain.idx, seq, toHex(id))
    if (chain.frozenFrom > seq) {
      // Outside a rewind, decided again even when an unfreeze already lifts this fork: that unfreeze
      // may stand on the very ops the fork freezes (a registrar lifting its own fork), and then it
      // never counted. Inside one, the ops above were decided with the pardons as they are now, and
      // `#checkFreeze` settles any change once it is done.
      if (chain.length > seq + 1) { if (!this.#rewinding) this.#markDirty(chain.idx, seq + 1) } else if (!this.#pardoned(chain.idx, seq)) chain.frozenFrom = seq
    }
    return { status: 'void', id, op, reason: 'on the losing branch of an equivocation' }
  }

  #noteFork (chain: Chain, seq: number, ids: string[]): void {
    const key = `${chain.hex}:${seq}`
    const e = this.#equivocations.get(key)
    const all = [...new Set([...(e?.ids ?? []), ...ids])].sort()
    this.#equivocations.set(key, { author: chain.hex, seq, ids: all })
    let seqs = this.#forksOf.get(chain.idx)
    if (seqs === undefined) this.#forksOf.set(chain.idx, seqs = new Set())
    seqs.add(seq)
  }

  #pardoned (chain: number, seq: number): boolean {
    return (this.#pardons.get(slotKey(chain, seq)) ?? 0) > 0
  }

  #markDirty (chain: number, seq: number): void {
    const at = this.#dirty.get(chain)
    if (at === undefined || seq < at) this.#dirty.set(chain, seq)
  }

  /** Re-admits every op that waited for (author, seq), and what those unblock in turn. */
  #wake (author: PublicKey | Chain, seq: number): void {
    if (this.#held.waiting.size === 0) return
    const first = author instanceof Chain ? author : this.#find(author)
    if (first === undefined) return
    const slots = [slotKey(first.idx, seq)]
    while (slots.length > 0) {
      const waiting = this.#held.takeWaiting(slots.pop() as string)
      if (waiting === undefined) continue
      for (const decoded of waiting) {
        const result = this.#admit(decoded)
        if (result.status === 'applied' || result.status === 'rejected') {
          for (const l of this.#listeners) l(result)
          slots.push(slotKey(this.chain(decoded.op.author).idx, decoded.op.seq))
        }
      }
    }
  }

  /** The first position the op lacks ([chain, seq]), or undefined when its causal past is here. */
  #missingFor (decoded: DecodedOp, chain: Chain): [number, number] | undefined {
    const { op } = decoded
    if (op.seq > chain.length) return [chain.idx, op.seq - 1]
    for (const [key, seq] of op.deps) {
      const dep = this.#chainOf(key)
      if (seq >= dep.length) return [dep.idx, seq]
    }
    return undefined
  }

  #allMissing (decoded: DecodedOp, chain: Chain): Array<[PublicKey, number]> {
    const { op } = decoded
    const missing: Array<[PublicKey, number]> = []
    if (op.seq > chain.length) missing.push([chain.key, op.seq - 1])
    for (const [key, seq] of op.deps) {
      const dep = this.#chainOf(key)
      if (seq >= dep.length) missing.push([dep.key, seq])
    }
    return missing
  }

  #apply (decoded: DecodedOp, chain: Chain, silent: boolean): AddResult {
    const { op, id } = decoded
    for (const [key, seq] of op.deps) {
      const dep = this.#chainOf(key)
      const before = chain.frontier.get(dep.idx) ?? -1
      if (seq > before) {
        this.#declare(chain, dep, before, seq)
        chain.frontier.set(dep.idx, seq)
      }
    }
    let violation: RuleViolation | undefined
    if (op.ts < chain.lastTs) {
      violation = reject('ts-backwards', `ts ${op.ts} is before the previous op's ts ${chain.lastTs}`)
    } else {
      // A device's chain passing a window's end returns what is left of it to the funder.
      if (chain.funds !== null && chain.funds.nextClose() <= op.ts) {
        for (const [funder, wh] of chain.funds.close(op.ts)) this.#move(chain, op.seq, this.#chains[funder] as Chain, wh, null)
      }
      this.#view.author = chain
      const outcome = check(op, this.#view)
      violation = outcome instanceof RuleViolation ? outcome : this.#effect(outcome, decoded, chain)
    }
    chain.lastTs = Math.max(chain.lastTs, op.ts)
    if (!silent) this.#logOrder(chain.idx)
    if (violation !== undefined) {
      chain.push(id, OpStatus.rejected, op.ts)
      return { status: 'rejected', id, op, code: violation.code, reason: violation.message }
    }
    chain.push(id, OpStatus.accepted, op.ts)
    return { status: 'applied', id, op }
  }

  /** Applies a contract's effect; a violation only when a global bound would break. */
  #effect (effect: Effect, { op, id }: DecodedOp, chain: Chain): RuleViolation | undefined {
    switch (effect.type) {
      case 'none': return undefined
      case 'register':
        for (const [account, role] of effect.entries) {
          const reg: Registration = { role, registrar: chain.idx, seq: op.seq, id: id.slice(), ts: op.ts, body: ownBody(op.body as RegisterBody) }
          const list = this.#registrations.get(account.idx)
          if (list === undefined) this.#registrations.set(account.idx, [reg])
          else list.push(reg)
        }
        return undefined
      case 'price': {
        const prices = chain.prices ??= []
        prices.push(op.seq, effect.wholesale ?? chain.wholesale ?? -1, effect.retail ?? chain.retail ?? -1)
        return undefined
      }
      case 'mint': {
        if (this.minted + effect.wh > Number.MAX_SAFE_INTEGER) return reject('overflow', 'total supply would exceed the safe integer range')
        chain.reading = effect.total
        chain.readingTs = op.ts
        chain.minted += effect.wh
        this.minted += effect.wh
        this.#credit(chain, op.seq, this.#chains[effect.account.idx] as Chain, effect.wh, null)
        return undefined
      }
      case 'receipt': {
        const position = receiptPosition(chain.idx, op.seq)
        this.#receipts.set(position, effect.receipt)
        return undefined
      }
      case 'transfer':
        this.#move(chain, op.seq, this.#chains[effect.to.idx] as Chain, effect.wh, effect.window)
        if (effect.settles !== null) {
          this.#receipts.settle(effect.settles.position, chain.idx)
          chain.settledIds ??= this.#receipts.settledView(chain.idx)
        }
        return undefined
      case 'burn':
        chain.funds?.draw(op.ts, effect.wh)
        chain.reading = effect.total
        chain.readingTs = op.ts
        chain.burned += effect.wh
        chain.spent += effect.wh
        chain.balance -= effect.wh
        this.burned += effect.wh
        return undefined
      case 'pardon':
        this.#pardon(effect.account.idx, effect.seq, 1)
        return undefined
    }
  }

  #pardon (chain: number, seq: number, delta: number): void {
    const key = slotKey(chain, seq)
    const count = (this.#pardons.get(key) ?? 0) + delta
    if (count > 0) this.#pardons.set(key, count)
    else this.#pardons.delete(key)
    if (!this.#rewinding) this.#checkFreeze(chain)
  }

  /** Whether a chain's freeze matches its forks and the unfreezes applied; if not, it is decided again. */
  #checkFreeze (idx: number): void {
    const seqs = this.#forksOf.get(idx)
    if (seqs === undefined) return
    let expected = Number.POSITIVE_INFINITY
    for (const s of seqs) if (s < expected && !this.#pardoned(idx, s)) expected = s
    const chain = this.#chains[idx] as Chain
    if (expected !== chain.frozenFrom) this.#markDirty(idx, Math.min(expected, chain.frozenFrom) + 1)
  }

  /** Credits from `from`'s ops in (before, upto] to `to` enter `to`'s frontier. */
  #declare (to: Chain, from: Chain, before: number, upto: number): void {
    if (from.tsAt !== null) {
      const ts = from.tsAt[upto] as number
      if (ts > to.witnessed) to.witnessed = ts
    }
    const book = from.credits
    const list = book.listOf(to.idx)
    if (list < 0) return
    const i = book.upTo(list, before)
    const end = book.upTo(list, upto)
    if (i >= end) return
    to.declared += book.sum(list, i, end)
    if (!this.#devices.has(to.idx)) return
    const funds = to.funds ??= new DeviceFunds()
    for (let k = i; k < end; k++) funds.declare(from.idx, book.amount(list, k), book.window(list, k))
  }

  /** Value leaves `from` (a transfer or a refund) for `to`. */
  #move (from: Chain, seq: number, to: Chain, wh: number, window: FundingWindow | null): void {
    from.spent += wh
    from.balance -= wh
    this.#credit(from, seq, to, wh, window)
  }

  #credit (from: Chain, seq: number, to: Chain, wh: number, window: FundingWindow | null): void {
    from.credits.append(to.idx, seq, wh, window)
    to.creditors.add(from.idx)
    to.balance += wh
  }

  #logOrder (chain: number): void {
    if (this.#orderLength === this.#order.length) {
      const grown = new Uint32Array(this.#order.length * 2)
      grown.set(this.#order)
      this.#order = grown
    }
    const first = this.#firstLog
    if (first !== null) {
      if (chain >= first.length) this.#firstLog = growFirst(first, chain + 1)
      if ((this.#firstLog as Int32Array)[chain] === -1) (this.#firstLog as Int32Array)[chain] = this.#orderLength
    }
    this.#order[this.#orderLength++] = chain
  }

  // -------------------------------------------------------------------------------------------------
  // Deciding again (rewind)

  /**
   * Which chains must be decided again, and from which seq: the dirty chains, and every chain whose
   * decided ops cite (through deps) a position at or above another's cut, found through frontiers. To
   * find a chain's exact cut the plan needs its ops: it asks for them (`need`) until `loaded` has
   * every chain it touches.
   */
  planRewind (loaded: ReadonlyMap<number, readonly DecodedOp[]>): RewindPlan {
    const cuts = new Map(this.#dirty)
    const queue = [...cuts.keys()]
    const need = new Set<number>()
    for (const idx of cuts.keys()) if (!loaded.has(idx)) need.add(idx)
    while (queue.length > 0) {
      const x = queue.pop() as number
      const cx = cuts.get(x) as number
      for (const c of this.#chains) {
        if (c.idx === x || (c.frontier.get(x) ?? -1) < cx) continue
        const ops = loaded.get(c.idx)
        if (ops === undefined) { need.add(c.idx); continue }
        const cut = firstCiting(c, ops, (this.#chains[x] as Chain).key, cx)
        if (cut < (cuts.get(c.idx) ?? Number.POSITIVE_INFINITY)) {
          cuts.set(c.idx, cut)
          queue.push(c.idx)
        }
      }
    }
    return need.size > 0 ? { need: [...need] } : { cuts }
  }

  /**
   * Decides again the ops of each chain in `cuts` from its cut up, given every op of those chains
   * (`ops`, from storage). The chains' decided ops below their cuts stand as they were; the effects of
   * everything at or above are undone and their ops admitted again under the fork resolution the op set
   * gives now. Costs the lengths of the chains touched and one pass over the decision log.
   */
  rewind (cuts: ReadonlyMap<number, number>, ops: ReadonlyMap<number, readonly DecodedOp[]>): void {
    for (const idx of cuts.keys()) this.#dirty.delete(idx)
    const affected = new Set(cuts.keys())
    const byId = new Map<number, Map<string, DecodedOp>>()
    const prefix = new Map<number, Array<[string, number]>>()
    this.#rewinding = true
    const maxPending = this.#maxPending
    this.#maxPending = Number.POSITIVE_INFINITY
    try {
      for (const [idx, cut] of cuts) {
        const chain = this.#chains[idx] as Chain
        const list = ops.get(idx)
        if (list === undefined) throw new RewindError(`the ops of chain ${chain.hex} are needed to decide it again`)
        const m = new Map<string, DecodedOp>()
        for (const d of list) m.set(toHex(d.id), d)
        byId.set(idx, m)
        const keep: Array<[string, number]> = []
        const start = chain === this.#genesisChain ? 1 : 0
        for (let s = start; s < Math.min(cut, chain.length); s++) keep.push([toHex(chain.idAt(s)), chain.status[s] as number])
        prefix.set(idx, keep)
      }
      for (const idx of cuts.keys()) this.#undo(this.#chains[idx] as Chain, byId.get(idx) as Map<string, DecodedOp>)
      this.#held.removeChains(affected, d => this.chain(d.op.author).idx)
      this.#replayPrefixes(affected, prefix, byId)
      // Every other op of the affected chains, admitted again as if it arrived now: in seq order and,
      // at a seq, lowest id first, so a fork's surviving op is decided first whenever it can be.
      const admit: DecodedOp[] = []
      for (const idx of cuts.keys()) {
        const chain = this.#chains[idx] as Chain
        this.#forget(chain)
        for (const d of (byId.get(idx) as Map<string, DecodedOp>).values()) {
          if (d.op.seq >= chain.length || !bytesEqual(chain.idAt(d.op.seq), d.id)) admit.push(d)
        }
      }
      admit.sort((a, b) => a.op.seq - b.op.seq || compareIds(a.id, b.id))
      for (const d of admit) {
        const result = this.#admit(d)
        if (result.status === 'applied' || result.status === 'rejected') {
          for (const l of this.#listeners) l(result)
          this.#wake(d.op.author, d.op.seq)
        }
      }
    } finally {
      this.#rewinding = false
      this.#maxPending = maxPending
    }
    for (const idx of this.#forksOf.keys()) this.#checkFreeze(idx)
  }

  /** Undoes every effect of a chain's decided ops on the rest of the state, and resets the chain. */
  #undo (chain: Chain, byId: ReadonlyMap<string, DecodedOp>): void {
    for (let list = 0; list < chain.credits.size; list++) (this.#chains[chain.credits.accountOf(list)] as Chain).balance -= chain.credits.total(list)
    if (this.#registrars.has(chain.idx)) {
      for (const [idx, list] of this.#registrations) {
        const kept = list.filter(r => r.registrar !== chain.idx)
        if (kept.length === 0) this.#registrations.delete(idx)
        else if (kept.length !== list.length) this.#registrations.set(idx, kept)
      }
    }
    const start = chain === this.#genesisChain ? 1 : 0
    const isRegistrar = this.#registrars.has(chain.idx)
    for (let s = start; s < chain.length; s++) {
      if (this.#oracles.has(chain.idx)) {
        const position = receiptPosition(chain.idx, s)
        this.#receipts.delete(position)
      }
      if (isRegistrar && chain.status[s] === OpStatus.accepted) {
        const d = byId.get(toHex(chain.idAt(s)))
        if (d === undefined) throw new RewindError(`the op at ${chain.hex}:${s} is needed to decide the chain again`)
        if (d.op.kind === 'unfreeze') this.#pardon(this.chain(d.op.body.account).idx, d.op.body.seq, -1)
      }
    }
    if (chain.settledIds !== null) this.#receipts.unsettleAll(chain.idx)
    this.minted -= chain.minted
    this.burned -= chain.burned
    chain.reset()
    if (chain === this.#genesisChain) this.#startGenesisChain()
  }

  /** Forgets the forks recorded for a chain (they are recorded again from its ops). */
  #forget (chain: Chain): void {
    const seqs = this.#forksOf.get(chain.idx)
    if (seqs === undefined) return
    for (const s of seqs) this.#equivocations.delete(`${chain.hex}:${s}`)
    this.#forksOf.delete(chain.idx)
  }

  /**
   * Decides the kept ops (below each cut) again, in the order first decided (causal), without logging
   * them twice; drops the log entries of everything above the cuts (it is decided again and logged anew).
   */
  #replayPrefixes (affected: ReadonlySet<number>, prefix: ReadonlyMap<number, Array<[string, number]>>, byId: ReadonlyMap<number, ReadonlyMap<string, DecodedOp>>): void {
    const next = new Map<number, number>()
    const order = this.#order
    const first = this.#firstLogs()
    // Nothing before the first entry of an affected chain moves.
    let start = this.#orderLength
    for (const c of affected) {
      const at = c < first.length ? first[c] as number : -1
      if (at >= 0 && at < start) start = at
    }
    for (const c of affected) if (c < first.length) first[c] = -1
    let w = start
    for (let r = start; r < this.#orderLength; r++) {
      const c = order[r] as number
      if (!affected.has(c)) {
        if (first[c] === r) first[c] = w
        order[w++] = c
        continue
      }
      const i = next.get(c) ?? 0
      next.set(c, i + 1)
      const keep = prefix.get(c) as Array<[string, number]>
      if (i >= keep.length) continue
      const [id, status] = keep[i] as [string, number]
      const d = (byId.get(c) as ReadonlyMap<string, DecodedOp>).get(id)
      if (d === undefined) throw new RewindError(`the op ${id} is needed to decide its chain again`)
      const again = this.#apply(d, this.#chains[c] as Chain, true)
      if ((again.status === 'applied' ? OpStatus.accepted : OpStatus.rejected) !== status) {
        throw new RewindError(`the op ${id} was decided otherwise the second time: ${again.status}`)
      }
      if (first[c] === -1) first[c] = w
      order[w++] = c
    }
    this.#orderLength = w
  }

  /** Where each chain's first entry is in the decision log (made from the log the first time). */
  #firstLogs (): Int32Array {
    if (this.#firstLog !== null && this.#firstLog.length >= this.#chains.length) return this.#firstLog
    if (this.#firstLog !== null) return (this.#firstLog = growFirst(this.#firstLog, this.#chains.length))
    const first = new Int32Array(Math.max(16, this.#chains.length)).fill(-1)
    for (let i = 0; i < this.#orderLength; i++) {
      const c = this.#order[i] as number
      if (first[c] === -1) first[c] = i
    }
    return (this.#firstLog = first)
  }

  // -------------------------------------------------------------------------------------------------
  // Reading

  /** Every decided op as [chain, seq], each after everything it depends on (the genesis excluded). */
  * decidedInOrder (): Generator<[ChainView, number]> {
    const next = new Map<number, number>()
    const genesisAuthor = this.#genesisChain.idx
    for (let i = 0; i < this.#orderLength; i++) {
      const idx = this.#order[i] as number
      const seq = next.get(idx) ?? (idx === genesisAuthor ? 1 : 0)
      next.set(idx, seq + 1)
      yield [this.#chains[idx] as Chain, seq]
    }
  }

  get decidedCount (): number {
    return this.#orderLength
  }

  /** What `account` may spend now on its own chain: declared credits minus its debits. */
  spendable (key: PublicKey): number {
    const c = this.findChain(key)
    return c === undefined ? 0 : c.declared - c.spent
  }

  balance (key: PublicKey): number {
    return this.findChain(key)?.balance ?? 0
  }

  /** The registration of `key` as a viewer chain sees it; among several, the lowest op id decides. */
  registrationSeenBy (viewer: ChainView, key: ChainView): Registration | undefined {
    const list = this.#registrations.get(key.idx)
    if (list === undefined) return undefined
    let best: Registration | undefined
    for (const r of list) {
      if (this.sees(viewer, r.registrar, r.seq) && (best === undefined || compareIds(r.id, best.id) < 0)) best = r
    }
    return best
  }

  /** Whether `viewer` (about to decide its op at seq viewer.length) sees `author`'s op at `seq`. */
  sees (viewer: ChainView, author: number, seq: number): boolean {
    if (author === viewer.idx) return seq < viewer.length
    return (viewer.frontier.get(author) ?? -1) >= seq
  }

  /** The registration of `key` on the whole ledger (for views, not for rules). */
  registrationOf (key: PublicKey): Registration | undefined {
    const c = this.findChain(key)
    const list = c === undefined ? undefined : this.#registrations.get(c.idx)
    if (list === undefined) return undefined
    return list.reduce((a, b) => compareIds(a.id, b.id) <= 0 ? a : b)
  }

  /** Every registration on the ledger, one per registered key (lowest op id wins). */
  * registrations (): IterableIterator<{ key: PublicKey, role: Role, body: RegisterBody }> {
    for (const [idx, list] of this.#registrations) {
      const best = list.reduce((a, b) => compareIds(a.id, b.id) <= 0 ? a : b)
      yield { key: (this.#chains[idx] as Chain).key, role: best.role, body: best.body }
    }
  }

  /** All registrations as the state holds them (for snapshots). */
  registrationLists (): ReadonlyMap<number, readonly Registration[]> {
    return this.#registrations
  }

  isRegistrar (key: PublicKey): boolean {
    const c = this.findChain(key)
    return c !== undefined && this.#registrars.has(c.idx)
  }

  isOracle (key: PublicKey): boolean {
    const c = this.findChain(key)
    return c !== undefined && this.#oracles.has(c.idx)
  }

  /** By chain index: a genesis registrar or oracle, or a key a registrar registered as a device. */
  hasRole (idx: number, role: 'registrar' | 'oracle' | 'device'): boolean {
    return (role === 'registrar' ? this.#registrars : role === 'oracle' ? this.#oracles : this.#devices).has(idx)
  }

  /** Whether a registrar registered `key` as a consumer device, in any op the state holds. */
  isDevice (key: PublicKey): boolean {
    const c = this.findChain(key)
    return c !== undefined && this.#devices.has(c.idx)
  }

  receiptAt (oracle: PublicKey, seq: number): (ReceiptBody & { price: number | null }) | undefined {
    const c = this.findChain(oracle)
    const r = c === undefined ? undefined : this.#receipts.get(receiptPosition(c.idx, seq))
    if (r === undefined) return undefined
    const key = (idx: number): PublicKey => (this.#chains[idx] as Chain).key
    return { payer: key(r.payer), payee: key(r.payee), contract: r.contract, amount: r.amount, currency: this.genesis.currency, paymentId: r.paymentId, price: r.price }
  }

  /** Every accepted receipt by position, with whether a sale settled it. */
  * receipts (): IterableIterator<{ oracle: ChainView, seq: number, receipt: Receipt, settled: boolean }> {
    for (const [position, receipt] of this.#receipts) {
      yield { oracle: this.#chains[positionChain(position)] as Chain, seq: positionSeq(position), receipt, settled: this.#receipts.isSettled(position) }
    }
  }

  /** Whether a sale settled a receipt of `paymentId` (whichever oracle attested it). */
  isSettled (paymentId: string): boolean {
    return this.#receipts.somePosition(paymentId, p => this.#receipts.isSettled(p))
  }

  get settledCount (): number {
    return this.#receipts.settledCount
  }

  /** Whether the receipt at a position is accepted and a payment id index lookup finds it in `viewer`'s past. */
  paymentSeenBy (viewer: ChainView, paymentId: string): boolean {
    return this.#receipts.somePosition(paymentId, p => this.sees(viewer, positionChain(p), positionSeq(p)))
  }

  receiptAtPosition (position: number): Receipt | undefined {
    return this.#receipts.get(position)
  }

  /** Funding windows a device's meter has declared and not yet closed. */
  windowsOf (device: PublicKey): ReadonlyArray<Readonly<{ funder: number, from: number, until: number, remaining: number }>> {
    return this.findChain(device)?.funds?.windows ?? []
  }

  /** What became of the op `id` at (author, seq): decided, waiting, frozen, void or unknown. */
  statusOf (author: PublicKey, seq: number, id: OpId): 'accepted' | 'rejected' | 'pending' | 'frozen' | 'void' | 'unknown' {
    const c = this.findChain(author)
    if (c === undefined) return 'unknown'
    if (seq < c.length && bytesEqual(c.idAt(seq), id)) return c.status[seq] === OpStatus.accepted ? 'accepted' : 'rejected'
    // The common case on ingest, a new op and nothing set aside: no id lookups.
    if (this.#held.empty) return 'unknown'
    return this.#held.status(toHex(id)) ?? 'unknown'
  }

  /**
   * What the state holds of `author`'s ops beyond its decided chain: how many wait undecided (pending or
   * frozen), and the highest seq of any op of the author it holds (−1 if none). A signer that learns
   * its head from this state signs only when nothing of its own waits.
   */
  heldOf (author: PublicKey): { undecided: number, highest: number } {
    const c = this.#find(author)
    let undecided = 0
    let highest = c === undefined ? -1 : c.length - 1
    if (c === undefined || this.#held.empty) return { undecided, highest }
    for (const d of this.#held.pending.values()) {
      if (bytesEqual(d.op.author, c.key)) { undecided++; highest = Math.max(highest, d.op.seq) }
    }
    for (const f of this.#held.frozen.values()) {
      if (f.chain === c.idx) { undecided++; highest = Math.max(highest, f.op.op.seq) }
    }
    for (const v of this.#held.void.values()) if (v.chain === c.idx) highest = Math.max(highest, v.seq)
    return { undecided, highest }
  }

  frozenAccounts (): PublicKey[] {
    return this.#chains.filter(c => Number.isFinite(c.frozenFrom)).map(c => c.key)
  }

  /** Known forks, each a self-contained fraud proof. */
  get equivocations (): Equivocation[] {
    return [...this.#equivocations.values()]
  }

  // -------------------------------------------------------------------------------------------------
  // Snapshots: the state's own structures, lent to read, and taken back to restore.

  parts (): LedgerStatePartsView {
    return {
      chains: this.#chains,
      registrations: this.#registrations,
      receipts: this.#receipts,
      devices: this.#devices,
      pardons: this.#pardons,
      equivocations: this.#equivocations,
      held: this.#held,
      order: this.#order.subarray(0, this.#orderLength),
      minted: this.minted,
      burned: this.burned
    }
  }

  /**
   * A state as it was, from its parts (see `parts`). Takes ownership of the structures given. The
   * rules are not run: the parts must come from a state built on the same genesis. Pending and frozen
   * ops are not parts: add them again (`add`) after restoring, they are held again as they were.
   */
  static restore (genesis: DecodedOp, parts: LedgerStateParts, options: LedgerStateOptions = {}): LedgerState {
    const state = new LedgerState(genesis, options)
    state.#chains.length = 0
    state.#byHex.clear()
    state.#byKey.clear()
    for (const c of parts.chains) {
      if (c.idx !== state.#chains.length) throw new RangeError(`chain ${c.idx} restored at index ${state.#chains.length}`)
      state.#chains.push(c)
      state.#byHex.set(c.hex, c)
      state.#byKey.add(c.key, c.idx)
    }
    const author = state.#find(genesis.op.author)
    if (author === undefined || author.length === 0 || !bytesEqual(author.idAt(0), genesis.id)) {
      throw new RangeError('the restored chains do not start from this genesis')
    }
    state.#genesisChain = author
    state.#registrars.clear()
    state.#oracles.clear()
    for (const k of state.genesis.registrars) state.#registrars.add(state.chain(k).idx)
    for (const k of state.genesis.oracles) state.#oracles.add(state.chain(k).idx)
    state.#registrations = parts.registrations
    state.#receipts = parts.receipts
    state.#devices = parts.devices
    state.#pardons = parts.pardons
    state.#equivocations = new Map()
    state.#forksOf = new Map()
    for (const e of parts.equivocations) {
      const c = state.#byHex.get(e.author)
      if (c === undefined) throw new RangeError(`a fork of an unknown chain ${e.author}`)
      state.#noteFork(c, e.seq, e.ids)
    }
    state.#held = new HeldOps()
    for (const v of parts.voids) state.#held.addVoid(v.chain, v.seq, v.id)
    const order = new Uint32Array(Math.max(1024, parts.order.length + (parts.order.length >>> 3)))
    order.set(parts.order)
    state.#order = order
    state.#orderLength = parts.order.length
    state.minted = parts.minted
    state.burned = parts.burned
    return state
  }
}

/** What `LedgerState.parts` lends: the state's live structures, to read and never to change. */
export interface LedgerStatePartsView {
  readonly chains: readonly ChainView[]
  readonly registrations: ReadonlyMap<number, readonly Registration[]>
  /** Reads as a `ReadonlyMap` from position to `Receipt`. */
  readonly receipts: ReceiptStore
  readonly devices: ReadonlySet<number>
  readonly pardons: ReadonlyMap<string, number>
  readonly equivocations: ReadonlyMap<string, Equivocation>
  readonly held: HeldOps
  readonly order: Uint32Array
  readonly minted: number
  readonly burned: number
}

/** What `LedgerState.restore` takes. */
export interface LedgerStateParts {
  chains: Chain[]
  registrations: Map<number, Registration[]>
  /** Settlements recorded in it, and each settling chain's `settledIds` one of its views. */
  receipts: ReceiptStore
  devices: Set<number>
  pardons: Map<string, number>
  equivocations: Equivocation[]
  voids: Array<{ chain: number, seq: number, id: string }>
  order: Uint32Array
  minted: number
  burned: number
}

export type { CreditList }

/** `first` with room for `n` chains, the new ones without log entries (-1). */
function growFirst (first: Int32Array, n: number): Int32Array {
  const grown = new Int32Array(Math.max(n, first.length + (first.length >>> 1))).fill(-1)
  grown.set(first)
  return grown
}

/** Ids compare bytewise: the lower id stands at a fork and among concurrent registrations. */
function compareIds (a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < 32; i++) {
    const d = (a[i] as number) - (b[i] as number)
    if (d !== 0) return d
  }
  return 0
}

/** The first decided seq of `chain` whose op's deps cite `x` at or above `cx` (+∞ if none). */
function firstCiting (chain: Chain, ops: readonly DecodedOp[], x: PublicKey, cx: number): number {
  let first = Number.POSITIVE_INFINITY
  for (const d of ops) {
    const s = d.op.seq
    if (s >= chain.length || s >= first || !bytesEqual(chain.idAt(s), d.id)) continue
    for (const [key, seq] of d.op.deps) {
      if (seq >= cx && bytesEqual(key, x)) { first = s; break }
    }
  }
  return first
}

/** The read-only view contracts see: the author's causal past. One instance, re-aimed per op. */
class View implements CausalView {
  author!: Chain
  readonly currency: string
  readonly mintSlackMs: number
  readonly #state: LedgerState

  constructor (state: LedgerState) {
    this.#state = state
    this.currency = state.genesis.currency
    this.mintSlackMs = state.mintSlackMs
  }

  account = (key: PublicKey): ChainView => this.#state.chain(key)
  isRegistrar = (a: { idx: number }): boolean => this.#state.hasRole(a.idx, 'registrar')
  isOracle = (a: { idx: number }): boolean => this.#state.hasRole(a.idx, 'oracle')
  isDevice = (a: { idx: number }): boolean => this.#state.hasRole(a.idx, 'device')
  registration = (a: { idx: number }): Registration | undefined => this.#state.registrationSeenBy(this.author, this.#state.chains[a.idx] as ChainView)
  sees = (a: { idx: number }, seq: number): boolean => this.#state.sees(this.author, a.idx, seq)
  receipt = (oracle: { idx: number }, seq: number): Receipt | undefined => this.#state.receiptAtPosition(receiptPosition(oracle.idx, seq))
  priceSeen = (seller: { idx: number }, which: 'wholesale' | 'retail'): number | null => {
    const s = this.#state.chains[seller.idx] as ChainView
    const upto = s.idx === this.author.idx ? this.author.length - 1 : (this.author.frontier.get(s.idx) ?? -1)
    return upto < 0 ? null : s.priceAt(upto, which)
  }

  paymentSeen = (paymentId: string): boolean => this.#state.paymentSeenBy(this.author, paymentId)
  settled = (paymentId: string): boolean => this.author.settledIds?.has(paymentId) ?? false
  transferable = (): number => this.author.declared - this.author.spent
  usableAt = (t: number): number => this.author.funds?.usableAt(t) ?? 0
  witnessed = (): number => this.author.witnessed
}

/** A registration kept for good: its keys copied out of the op's bytes (decoded fields are views of them). */
function ownBody (body: RegisterBody): RegisterBody {
  const copy: Record<string, unknown> = { ...body }
  for (const [k, v] of Object.entries(copy)) if (v instanceof Uint8Array) copy[k] = v.slice()
  return copy as unknown as RegisterBody
}
