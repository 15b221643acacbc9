/**
 * Ledger: wire bytes in, verified ops applied to the state and kept in storage. An op is stored in the
 * same atomic batch that acknowledges it, and the stored set of ops is the whole truth: opening a
 * ledger replays it (without re-verifying signatures, which were checked before it was stored), and
 * an equivocation that changes which branch survives replays it under the new fork resolution.
 */
import {
  decodeOp, nobleVerifier, OpDecodeError, SignatureError, toHex,
  type DecodedOp, type OpId, type PublicKey, type SignatureVerifier, type SignedOp
} from '@microgrid/protocol'
import { resolveForks, type ChainHeader, type ForkResolution } from './forks.ts'
import { LedgerState, PendingLimitError, type AddResult } from './state.ts'
import { stateHash } from './state-hash.ts'
import { MemoryStorage, type StorageAdapter, type StorageEntry } from './storage.ts'
import type { BatchVerifier } from './verify-pool.ts'

export type IngestResult =
  | Exclude<AddResult, { status: 'conflict' }>
  | { status: 'invalid', error: OpDecodeError | SignatureError }
  /** Verified but not kept: the pending set is full. Send it again once its causal past is here. */
  | { status: 'dropped', id: OpId, op: SignedOp, reason: string }

export interface LedgerInit {
  /** The grid's genesis op, as wire bytes. Optional when the storage already holds a grid. */
  genesis?: Uint8Array
  storage?: StorageAdapter
  verifier?: SignatureVerifier
  /** Verifies batches off the main thread (see VerifierPool); `verifier` is then used only for the genesis. */
  batchVerifier?: BatchVerifier
  /** Upper bound on ops waiting for their causal past. */
  maxPending?: number
}

export type OpListener = (result: IngestResult) => void

export class GridMismatchError extends Error {
  override readonly name = 'GridMismatchError'
}

/** Storage layout: one entry per op, keyed so an author's chain reads back in seq order. */
export function opKey (author: PublicKey | string, seq: number, id: OpId | string): string[] {
  return ['op', typeof author === 'string' ? author : toHex(author), String(seq).padStart(12, '0'), typeof id === 'string' ? id : toHex(id)]
}
const GENESIS_KEY = ['genesis']
const OTHER_GRID = 'the op belongs to another grid'

export class Ledger {
  readonly storage: StorageAdapter
  readonly verifier: SignatureVerifier
  readonly batchVerifier: BatchVerifier | undefined
  readonly genesis: DecodedOp
  #state: LedgerState
  readonly #maxPending: number
  readonly #listeners: OpListener[] = []
  #rebuilds = 0
  #queue: Promise<void> = Promise.resolve()

  private constructor (genesis: DecodedOp, storage: StorageAdapter, verifier: SignatureVerifier, batchVerifier: BatchVerifier | undefined, maxPending: number) {
    this.genesis = genesis
    this.batchVerifier = batchVerifier
    this.storage = storage
    this.verifier = verifier
    this.#maxPending = maxPending
    this.#state = this.#freshState()
  }

  /** Opens the ledger of a grid, replaying whatever the storage holds. */
  static async open (init: LedgerInit): Promise<Ledger> {
    const storage = init.storage ?? new MemoryStorage()
    const verifier = init.verifier ?? nobleVerifier
    const stored = await storage.load(GENESIS_KEY)
    const genesisBytes = init.genesis ?? stored
    if (genesisBytes === undefined) throw new GridMismatchError('the storage holds no grid: pass the genesis op')
    const genesis = decodeOp(genesisBytes)
    if (genesis.op.kind !== 'genesis') throw new OpDecodeError('op.kind', 'genesis', genesis.op.kind)
    if (stored !== undefined && toHex(decodeOp(stored).id) !== toHex(genesis.id)) {
      throw new GridMismatchError('the storage holds another grid than the genesis given')
    }
    if (stored === undefined) {
      if (!verifier.verify(genesis.op.sig, genesis.id, genesis.op.author)) throw new SignatureError('genesis: signature does not verify')
      await storage.saveBatch([{ key: GENESIS_KEY, data: genesis.bytes }])
    }
    const ledger = new Ledger(genesis, storage, verifier, init.batchVerifier, init.maxPending ?? 100_000)
    await ledger.#replay()
    return ledger
  }

  get state (): LedgerState {
    return this.#state
  }

  get gridId (): OpId {
    return this.genesis.id
  }

  /** How many times an equivocation made the ledger replay its ops. */
  get rebuilds (): number {
    return this.#rebuilds
  }

  stateHash (): string {
    return stateHash(this.#state)
  }

  /** Called for every op decided or set aside: submitted ones and pending ones they unblock. */
  onOp (listener: OpListener): () => void {
    this.#listeners.push(listener)
    return () => { this.#listeners.splice(this.#listeners.indexOf(listener), 1) }
  }

  async apply (bytes: Uint8Array): Promise<IngestResult> {
    return (await this.applyBatch([bytes]))[0] as IngestResult
  }

  /**
   * Decodes, verifies and applies a batch, then stores every new op in one atomic write. When this
   * resolves, every op whose result is not `invalid` or `duplicate` is durable.
   */
  async applyBatch (batch: readonly Uint8Array[]): Promise<IngestResult[]> {
    // One batch at a time: a replay must never drop ops another batch applied but has not stored yet.
    const run = this.#queue.then(async () => await this.#applyBatch(batch))
    this.#queue = run.then(() => undefined, () => undefined)
    return await run
  }

  async #applyBatch (batch: readonly Uint8Array[]): Promise<IngestResult[]> {
    const results: Array<IngestResult | AddResult | undefined> = new Array(batch.length)
    // 1. Decode, and set aside what is malformed or already known (known ops are not verified again).
    const candidates: Array<{ at: number, decoded: DecodedOp }> = []
    batch.forEach((bytes, at) => {
      let decoded: DecodedOp
      try {
        decoded = decodeOp(bytes)
      } catch (err) {
        if (err instanceof OpDecodeError) { results[at] = { status: 'invalid', error: err }; return }
        throw err
      }
      // Only ops already verified and held count as known: a copy with a bad signature must not
      // shadow the genuine op later in the same batch (the id does not cover the signature).
      if (this.#state.statusOf(decoded.op.author, decoded.op.seq, decoded.id) !== 'unknown') {
        results[at] = { status: 'duplicate', id: decoded.id, op: decoded.op }
        return
      }
      candidates.push({ at, decoded })
    })
    // 2. Signatures: in worker threads when a pool is given, else inline.
    const valid = this.batchVerifier !== undefined
      ? await this.batchVerifier.verifyBatch(candidates.map(({ decoded: d }) => ({ sig: d.op.sig, digest: d.id, publicKey: d.op.author })))
      : candidates.map(({ decoded: d }) => this.verifier.verify(d.op.sig, d.id, d.op.author))
    // 3. Rules, in batch order.
    const fresh: StorageEntry[] = []
    const unblocked: IngestResult[] = []
    let replay = false
    const stop = this.#state.onDecided(r => unblocked.push(r))
    try {
      candidates.forEach(({ at, decoded }, i) => {
        if (valid[i] !== true) {
          results[at] = { status: 'invalid', error: new SignatureError(`${decoded.op.kind} #${decoded.op.seq}: signature does not verify`) }
          return
        }
        let result: AddResult
        try {
          result = this.#state.add(decoded)
        } catch (err) {
          if (!(err instanceof PendingLimitError)) throw err
          results[at] = { status: 'dropped', id: decoded.id, op: decoded.op, reason: err.message }
          return
        }
        if (result.status !== 'duplicate' && !(result.status === 'void' && result.reason === OTHER_GRID)) {
          fresh.push({ key: opKey(decoded.op.author, decoded.op.seq, decoded.id), data: decoded.bytes })
        }
        if (result.status === 'conflict' || (result.status === 'applied' && result.op.kind === 'unfreeze' && this.#liftsAFork(result.op.body.account, result.op.body.seq))) replay = true
        results[at] = result
      })
    } finally {
      stop()
    }
    // 4. Durable before acknowledged: one atomic write for the whole batch.
    try {
      if (fresh.length > 0) await this.storage.saveBatch(fresh)
    } catch (err) {
      await this.#replay()
      throw err
    }
    if (replay) {
      await this.#replay()
      for (let i = 0; i < results.length; i++) {
        const r = results[i] as IngestResult | AddResult
        if (r.status === 'conflict') results[i] = this.#settle(r)
      }
    }
    const final = results as IngestResult[]
    for (const r of [...final, ...unblocked]) for (const l of this.#listeners) l(r)
    return final
  }

  #liftsAFork (account: PublicKey, seq: number): boolean {
    const hex = toHex(account)
    return this.#state.equivocations.some(e => e.author === hex && e.seq === seq)
  }

  #settle (r: Extract<AddResult, { status: 'conflict' }>): IngestResult {
    const status = this.#state.statusOf(r.op.author, r.op.seq, r.id)
    switch (status) {
      case 'accepted': return { status: 'applied', id: r.id, op: r.op }
      case 'rejected': return { status: 'rejected', id: r.id, op: r.op, code: 'insufficient-funds', reason: 'rejected after the fork was resolved' }
      case 'frozen': return { status: 'frozen', id: r.id, op: r.op }
      case 'pending': return { status: 'pending', id: r.id, op: r.op, missing: [] }
      default: return { status: 'void', id: r.id, op: r.op, reason: 'on the losing branch of an equivocation' }
    }
  }

  #freshState (forks?: ForkResolution): LedgerState {
    return new LedgerState(this.genesis, { forks, maxPending: this.#maxPending })
  }

  /** Rebuilds the state from storage: once plainly, and again under a fork resolution if any fork shows. */
  async #replay (): Promise<void> {
    const entries = await this.storage.loadRange(['op'])
    const ops: DecodedOp[] = []
    for (const { data } of entries) {
      try {
        ops.push(decodeOp(data))
      } catch {
        // A stored op that no longer decodes was never acknowledged in this form; skip it.
      }
    }
    let state = this.#freshState()
    let conflicted = false
    for (const op of ops) if (state.add(op).status === 'conflict') { conflicted = true; break }
    if (conflicted) {
      state = this.#freshState(this.#resolve(ops))
      for (const op of ops) state.add(op)
      this.#rebuilds++
    }
    this.#state = state
  }

  #resolve (ops: DecodedOp[]): ForkResolution {
    const registrars = new Set(this.genesis.op.kind === 'genesis' ? this.genesis.op.body.registrars.map(toHex) : [])
    const headers: ChainHeader[] = ops.map(o => ({ author: toHex(o.op.author), seq: o.op.seq, prev: o.op.prev, id: o.id }))
    headers.push({ author: toHex(this.genesis.op.author), seq: 0, prev: null, id: this.genesis.id })
    const pardonsFrom = (voided: ReadonlySet<string>): Set<string> => new Set(ops
      .filter(o => o.op.kind === 'unfreeze' && registrars.has(toHex(o.op.author)) && !voided.has(toHex(o.id)))
      .map(o => o.op.kind === 'unfreeze' ? `${toHex(o.op.body.account)}:${o.op.body.seq}` : ''))
    // Pardons count unless their own op is void; void sets only shrink as pardons grow, so this settles.
    let forks = resolveForks(headers, pardonsFrom(new Set()))
    for (let i = 0; i < 8; i++) {
      const next = resolveForks(headers, pardonsFrom(forks.void))
      if (next.frozenFrom.size === forks.frozenFrom.size && [...next.frozenFrom].every(([k, v]) => forks.frozenFrom.get(k) === v)) break
      forks = next
    }
    return forks
  }
}
