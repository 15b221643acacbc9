/**
 * Ledger: wire bytes in, verified ops applied to the state and kept in storage. An op is stored in the
 * same atomic batch that acknowledges it, and the stored set of ops is the whole truth: opening a
 * ledger restores its latest snapshot and adds the ops stored since (the journal), or replays every
 * stored op (without re-verifying signatures, which were checked before it was stored). A fact that
 * changes past verdicts (a fork, an unfreeze, a late device registration) makes the state decide again
 * the ops it touches: the ledger reads those chains back from storage for it (`LedgerState.rewind`).
 */
import {
  bytesEqual, decodeOp, nobleVerifier, OpDecodeError, SignatureError, toHex,
  type DecodedOp, type OpId, type SignatureVerifier, type SignedOp
} from '@microgrid/protocol'
import type { RejectCode } from './rules.ts'
import type { Chain } from './chain.ts'
import { encodeSnapshot, Snapshot, SnapshotError } from './snapshot.ts'
import { LedgerState, PendingLimitError, RewindError, type AddResult } from './state.ts'
import { stateHash } from './state-hash.ts'
import { MemoryStorage, opKey, type StorageAdapter, type StorageEntry, type StorageKey } from './storage.ts'
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
  /**
   * Takes a snapshot of the state once this many new ops are stored since the last one (and after a
   * full replay), so opening reads the snapshot and the ops stored since. Default 50,000; 0 = never
   * automatically (`snapshot()` still works).
   */
  snapshotEvery?: number
}

export type OpListener = (result: IngestResult) => void

/** A batch decoded, its known ops set aside, its signatures on their way to the pool (if any). */
interface Prepared {
  results: Array<IngestResult | AddResult | undefined>
  candidates: Array<{ at: number, decoded: DecodedOp }>
  chunks: Array<Promise<boolean[]>>
  pooled: boolean
  /** `Ledger.#loads` when it was prepared. */
  loads: number
}

/** How the state was last loaded from storage: from the snapshot and journal, or by replaying every op. */
export interface LoadReport {
  from: 'snapshot' | 'replay'
  /** Stored ops decoded and added: the journal's and the snapshot's pending and frozen ops, or every op. */
  decoded: number
  /** Why a snapshot in storage was not used, if one was there. */
  snapshotRefused?: string
}

export class GridMismatchError extends Error {
  override readonly name = 'GridMismatchError'
}

export { opKey }
const GENESIS_KEY = ['genesis']
const OTHER_GRID = 'the op belongs to another grid'
/** The latest snapshot of the state (see snapshot.ts), with the journal counter it covers. */
export const SNAPSHOT_KEY: StorageKey = ['snapshot']
/** `['journal', n]` -> the storage key (JSON) of the n-th op stored after a snapshot was first taken. */
export const JOURNAL_PREFIX: StorageKey = ['journal']
export function journalKey (n: number): string[] {
  return ['journal', String(n).padStart(16, '0')]
}
const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder()
/** Ops per message to a `batchVerifier`: small enough that its threads start on a batch early. */
const VERIFY_CHUNK = 32
/**
 * Byte strings packed one after another in buffers of `PackedBytes.BLOCK` (larger than the C
 * library's largest heap allocation, so each goes back to the system when freed): a million stored
 * ops kept for a replay in a few blocks instead of a buffer each.
 */
class PackedBytes {
  static readonly BLOCK = 64 * 1024 * 1024
  readonly #blocks: Uint8Array[] = []
  #used = 0
  /** Per item: its block, its offset and its length. */
  readonly #items: number[] = []

  push (bytes: Uint8Array): void {
    let block = this.#blocks[this.#blocks.length - 1]
    if (block === undefined || this.#used + bytes.length > block.length) {
      block = new Uint8Array(Math.max(PackedBytes.BLOCK, bytes.length))
      this.#blocks.push(block)
      this.#used = 0
    }
    block.set(bytes, this.#used)
    this.#items.push(this.#blocks.length - 1, this.#used, bytes.length)
    this.#used += bytes.length
  }

  /** Item `i`: a view of its bytes (in a block shared with others). */
  at (i: number): Uint8Array {
    const items = this.#items
    const at = items[3 * i + 1] as number
    return (this.#blocks[items[3 * i] as number] as Uint8Array).subarray(at, at + (items[3 * i + 2] as number))
  }
}

export class Ledger {
  readonly storage: StorageAdapter
  readonly verifier: SignatureVerifier
  readonly batchVerifier: BatchVerifier | undefined
  readonly genesis: DecodedOp
  #state: LedgerState
  readonly #maxPending: number
  readonly #snapshotEvery: number
  readonly #listeners: OpListener[] = []
  #rewinds = 0
  #queue: Promise<void> = Promise.resolve()
  /** Counts reloads of the state from storage: a batch prepared before one is prepared again. */
  #loads = 0
  /** The last journal counter written (or covered by the snapshot). */
  #journal = 0
  /** Ops stored since the last snapshot. */
  #sinceSnapshot = 0
  /** Whether storage may hold a snapshot: from then on every stored op is journaled. */
  #hasSnapshot = false
  #lastLoad: LoadReport = { from: 'replay', decoded: 0 }

  private constructor (genesis: DecodedOp, storage: StorageAdapter, verifier: SignatureVerifier, batchVerifier: BatchVerifier | undefined, maxPending: number, snapshotEvery: number) {
    this.genesis = genesis
    this.batchVerifier = batchVerifier
    this.storage = storage
    this.verifier = verifier
    this.#maxPending = maxPending
    this.#snapshotEvery = snapshotEvery
    this.#state = this.#freshState()
  }

  /** Opens the ledger of a grid: restores its snapshot and the ops stored since, or replays every stored op. */
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
    const snapshotEvery = init.snapshotEvery ?? 50_000
    if (!Number.isSafeInteger(snapshotEvery) || snapshotEvery < 0) throw new RangeError('snapshotEvery: expected a non-negative integer')
    const ledger = new Ledger(genesis, storage, verifier, init.batchVerifier, init.maxPending ?? 100_000, snapshotEvery)
    await ledger.#load()
    return ledger
  }

  get state (): LedgerState {
    return this.#state
  }

  get gridId (): OpId {
    return this.genesis.id
  }

  /**
   * How many times the ledger decided ops again because a fork, an unfreeze or a late device
   * registration changed past verdicts (each time only the chains it touched).
   */
  get rewinds (): number {
    return this.#rewinds
  }

  /** How the state was last loaded from storage (at open, or after a failed write). */
  get lastLoad (): LoadReport {
    return this.#lastLoad
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
   * resolves, every op whose result is not `invalid` or `duplicate` is durable. An item may be an op
   * `decodeOp` already decoded (a gossip validator's), so it is not decoded twice; it is still verified.
   */
  async applyBatch (batch: ReadonlyArray<Uint8Array | DecodedOp>): Promise<IngestResult[]> {
    // With a pool, a batch is decoded and its signatures handed to the workers at once, while the
    // batches before it are still being decided: a caller that keeps two batches in flight keeps the
    // workers and this thread busy together. Rules and storage then run one batch at a time: a
    // rewind reads back from storage ops another batch applied but has not stored yet.
    const early = this.batchVerifier !== undefined ? this.#prepare(batch) : undefined
    return await this.#serialized(async () => {
      // A batch before it failed and the state went back to storage: what `early` took for known may be gone.
      const prepared = early !== undefined && early.loads === this.#loads ? early : this.#prepare(batch)
      return await this.#applyBatch(prepared)
    })
  }

  /**
   * Writes a snapshot of the state (covering every op stored so far), then removes the journal it
   * covers. Runs between batches. Resolves to the snapshot's size in bytes.
   */
  async snapshot (): Promise<number> {
    return await this.#serialized(async () => await this.#snapshot())
  }

  async #serialized<T> (task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task)
    this.#queue = run.then(() => undefined, () => undefined)
    return await run
  }

  /**
   * Step 1 of a batch: decodes it, sets aside what is malformed or already known (known ops are not
   * verified again), and with a pool sends each chunk of candidates to the worker threads as soon as
   * it is decoded. May run while earlier batches are being decided: an op one of them applies is then
   * verified for nothing, and `add` finds it a duplicate.
   */
  #prepare (batch: ReadonlyArray<Uint8Array | DecodedOp>): Prepared {
    const results: Array<IngestResult | AddResult | undefined> = new Array(batch.length)
    const candidates: Array<{ at: number, decoded: DecodedOp }> = []
    const pool = this.batchVerifier
    const chunks: Array<Promise<boolean[]>> = []
    let sent = 0
    const send = (): void => {
      if (pool === undefined || candidates.length === sent) return
      const chunk = pool.verifyBatch(candidates.slice(sent).map(({ decoded: d }) => ({ sig: d.op.sig, digest: d.id, publicKey: d.op.author })))
      chunk.catch(() => {}) // observed when the batch is decided; not an unhandled rejection meanwhile
      chunks.push(chunk)
      sent = candidates.length
    }
    for (let at = 0; at < batch.length; at++) {
      const item = batch[at] as Uint8Array | DecodedOp
      let decoded: DecodedOp
      try {
        decoded = item instanceof Uint8Array ? decodeOp(item) : item
      } catch (err) {
        if (err instanceof OpDecodeError) { results[at] = { status: 'invalid', error: err }; continue }
        throw err
      }
      // Only ops already verified and held count as known: a copy with a bad signature must not
      // shadow the genuine op later in the same batch (the id does not cover the signature).
      if (this.#state.statusOf(decoded.op.author, decoded.op.seq, decoded.id) !== 'unknown') {
        results[at] = { status: 'duplicate', id: decoded.id, op: decoded.op }
        continue
      }
      candidates.push({ at, decoded })
      if (candidates.length - sent >= VERIFY_CHUNK) send()
    }
    send()
    return { results, candidates, chunks, pooled: pool !== undefined, loads: this.#loads }
  }

  async #applyBatch ({ results, candidates, chunks, pooled }: Prepared): Promise<IngestResult[]> {
    // 2. Signatures: in worker threads when a pool is given (chunk by chunk, below), else inline.
    const valid: boolean[] = pooled ? [] : candidates.map(({ decoded: d }) => this.verifier.verify(d.op.sig, d.id, d.op.author))
    // 3. Rules, in batch order.
    const fresh: StorageEntry[] = []
    const unblocked: IngestResult[] = []
    const verdicts = new Map<string, { code: RejectCode, reason: string }>()
    const stop = this.#state.onDecided(r => { unblocked.push(r); if (r.status === 'rejected') verdicts.set(toHex(r.id), { code: r.code, reason: r.reason }) })
    /** Why the pool could not verify a chunk, once some of the batch may be applied already. */
    let failed: { error: unknown } | undefined
    let added = false
    try {
      let chunk = 0
      for (let i = 0; i < candidates.length && failed === undefined; i++) {
        while (valid.length <= i && failed === undefined) {
          const next = await (chunks[chunk++] as Promise<boolean[]>).then(ok => ok, (error: unknown) => ({ error }))
          if (Array.isArray(next)) valid.push(...next)
          else failed = next
        }
        if (failed !== undefined) break
        const { at, decoded } = candidates[i] as { at: number, decoded: DecodedOp }
        if (valid[i] !== true) {
          results[at] = { status: 'invalid', error: new SignatureError(`${decoded.op.kind} #${decoded.op.seq}: signature does not verify`) }
          continue
        }
        let result: AddResult
        added = true
        try {
          result = this.#state.add(decoded)
        } catch (err) {
          if (!(err instanceof PendingLimitError)) throw err
          results[at] = { status: 'dropped', id: decoded.id, op: decoded.op, reason: err.message }
          continue
        }
        if (result.status !== 'duplicate' && !(result.status === 'void' && result.reason === OTHER_GRID)) {
          const author = this.#state.findChain(decoded.op.author)?.hex ?? decoded.op.author
          fresh.push({ key: opKey(author, decoded.op.seq, decoded.id), data: decoded.bytes })
        }
        results[at] = result
      }
    } finally {
      stop()
      // Settle every chunk sent, so a failure above leaves no verification unobserved.
      for (const c of chunks) c.catch(() => {})
    }
    if (failed !== undefined) {
      // Ops of this batch may be applied but none is stored: the state goes back to what storage holds.
      if (added) await this.#load()
      throw failed.error
    }
    // 4. Durable before acknowledged: one atomic write for the whole batch, with its journal entries
    // once a snapshot exists (the ops stored after it, in the order they were added).
    try {
      if (fresh.length > 0) {
        const journal = this.#hasSnapshot
          ? fresh.map((e, i): StorageEntry => ({ key: journalKey(this.#journal + 1 + i), data: utf8.encode(JSON.stringify(e.key)) }))
          : []
        await this.storage.saveBatch(journal.length > 0 ? [...fresh, ...journal] : fresh)
        this.#journal += journal.length
        this.#sinceSnapshot += fresh.length
      }
    } catch (err) {
      await this.#load()
      throw err
    }
    // 5. A fork, an unfreeze or a late device registration changed past verdicts: decide again the
    // ops they touch (read back from storage, where this batch now is too).
    if (this.#state.dirty) {
      const stopAgain = this.#state.onDecided(r => { if (r.status === 'rejected') verdicts.set(toHex(r.id), { code: r.code, reason: r.reason }) })
      try {
        await this.#settleDirty()
      } finally {
        stopAgain()
      }
      for (let i = 0; i < results.length; i++) {
        const r = results[i] as IngestResult | AddResult
        if ('id' in r && r.status !== 'duplicate' && r.status !== 'dropped' && !(r.status === 'void' && r.reason === OTHER_GRID)) results[i] = this.#final(r, verdicts)
      }
    }
    if (this.#snapshotEvery > 0 && this.#sinceSnapshot >= this.#snapshotEvery) await this.#snapshotQuietly()
    const final = results as IngestResult[]
    for (const r of [...final, ...unblocked]) for (const l of this.#listeners) l(r)
    return final
  }

  /** What became of an op once its chain was decided again. */
  #final (r: { id: OpId, op: SignedOp, status: string }, verdicts: ReadonlyMap<string, { code: RejectCode, reason: string }>): IngestResult {
    const { id, op } = r
    switch (this.#state.statusOf(op.author, op.seq, id)) {
      case 'accepted': return { status: 'applied', id, op }
      case 'rejected': {
        const verdict = verdicts.get(toHex(id))
        if (verdict === undefined && r.status === 'rejected') return r as IngestResult
        return { status: 'rejected', id, op, code: verdict?.code ?? 'insufficient-funds', reason: verdict?.reason ?? 'rejected once its chain was decided again' }
      }
      case 'frozen': return { status: 'frozen', id, op }
      case 'pending': return { status: 'pending', id, op, missing: [] }
      default: return { status: 'void', id, op, reason: 'on the losing branch of an equivocation' }
    }
  }

  /** Decides again what the state marked dirty, reading the chains it needs from storage. */
  async #settleDirty (): Promise<void> {
    for (let round = 0; this.#state.dirty; round++) {
      if (round > 1000) throw new RewindError('ops kept changing verdicts while decided again')
      const loaded = new Map<number, DecodedOp[]>()
      let plan = this.#state.planRewind(loaded)
      while ('need' in plan) {
        for (const idx of plan.need) loaded.set(idx, await this.#chainOps(this.#state.chains[idx] as Chain))
        plan = this.#state.planRewind(loaded)
      }
      this.#state.rewind(plan.cuts, loaded)
      this.#rewinds++
    }
  }

  /** Every stored op of a chain (decided or held), decoded. */
  async #chainOps (chain: Chain): Promise<DecodedOp[]> {
    const ops: DecodedOp[] = []
    for (const { data } of await this.storage.loadRange(['op', chain.hex])) {
      try {
        ops.push(decodeOp(data))
      } catch {
        // a stored op that no longer decodes was never acknowledged in this form
      }
    }
    return ops
  }

  async #snapshot (): Promise<number> {
    // Journal from now on, even if this write fails: a snapshot that did land must be followed.
    this.#hasSnapshot = true
    const covers = this.#journal
    const bytes = encodeSnapshot(this.#state, { journal: covers })
    await this.storage.saveBatch([{ key: SNAPSHOT_KEY, data: bytes }])
    this.#sinceSnapshot = 0
    // Every journal entry now is covered (batches wait for this); a crash before this removal leaves
    // entries that opening skips, as their counters are at most `covers`.
    await this.storage.removeRange(JOURNAL_PREFIX)
    return bytes.length
  }

  /** Automatic snapshots: the ops are stored already, so a failed snapshot costs only a slower open. */
  async #snapshotQuietly (): Promise<void> {
    try {
      await this.#snapshot()
    } catch {
      this.#sinceSnapshot = 0 // try again after as many ops
    }
  }

  #freshState (maxPending = this.#maxPending): LedgerState {
    return new LedgerState(this.genesis, { maxPending })
  }

  /** Loads the state from storage: the snapshot and the journal when they are usable, else a full replay. */
  async #load (): Promise<void> {
    this.#loads++
    const journal = await this.#readJournal()
    const snapshot = await this.storage.load(SNAPSHOT_KEY)
    this.#hasSnapshot = snapshot !== undefined
    let refused: string | undefined
    if (snapshot !== undefined) {
      const restored = await this.#restore(snapshot, journal)
      if (typeof restored !== 'string') {
        this.#state = restored.state
        await this.#settleDirty()
        this.#state.maxPending = this.#maxPending
        this.#sinceSnapshot = restored.journaled
        this.#lastLoad = { from: 'snapshot', decoded: restored.decoded }
        return
      }
      refused = restored
    }
    const decoded = await this.#replay()
    this.#lastLoad = refused === undefined ? { from: 'replay', decoded } : { from: 'replay', decoded, snapshotRefused: refused }
    await this.#afterReplay(decoded)
  }

  /**
   * After a full replay: a snapshot in storage (stale, or refused) is replaced; otherwise the replayed
   * ops count as new ones towards the next snapshot.
   */
  async #afterReplay (unsnapshotted: number): Promise<void> {
    this.#sinceSnapshot = unsnapshotted
    if (this.#hasSnapshot || (this.#snapshotEvery > 0 && unsnapshotted >= this.#snapshotEvery)) await this.#snapshotQuietly()
  }

  /** The journal, in order; sets the journal counter past every entry. */
  async #readJournal (): Promise<Array<{ n: number, key: string[] }>> {
    const out: Array<{ n: number, key: string[] }> = []
    for (const { key, data } of await this.storage.loadRange(JOURNAL_PREFIX)) {
      const n = Number(key[1])
      if (!Number.isSafeInteger(n)) continue
      this.#journal = Math.max(this.#journal, n)
      try {
        const opKey = JSON.parse(fromUtf8.decode(data)) as unknown
        if (Array.isArray(opKey) && opKey.every(s => typeof s === 'string')) out.push({ n, key: opKey as string[] })
      } catch {
        // A journal entry that does not parse names no op; the op itself is still in storage.
      }
    }
    return out
  }

  /**
   * The snapshot's state plus the ops journaled after it, or why that cannot be used (then the caller
   * replays): a torn or corrupted snapshot, or a held op missing from storage.
   */
  async #restore (bytes: Uint8Array, journal: Array<{ n: number, key: string[] }>): Promise<{ state: LedgerState, decoded: number, journaled: number } | string> {
    let snapshot: Snapshot
    try {
      snapshot = Snapshot.open(bytes)
    } catch (err) {
      if (err instanceof SnapshotError) return err.message
      throw err
    }
    if (!bytesEqual(snapshot.gridId, this.genesis.id)) return 'snapshot: of another grid'
    this.#journal = Math.max(this.#journal, snapshot.journal)
    const held = new Map<string, DecodedOp>()
    for (const key of snapshot.opKeys) {
      const data = await this.storage.load(key)
      if (data === undefined) return `snapshot: ${key.join('/')} is not in storage`
      try {
        held.set(key.join('/'), decodeOp(data))
      } catch {
        return `snapshot: ${key.join('/')} does not decode`
      }
    }
    let state: LedgerState
    try {
      // Stored ops were acknowledged: they are held whatever the pending bound (which holds again after).
      state = snapshot.restore(this.genesis, { maxPending: Number.POSITIVE_INFINITY, opAt: key => held.get(key.join('/')) })
    } catch (err) {
      if (err instanceof SnapshotError) return err.message
      throw err
    }
    let decoded = held.size
    let journaled = 0
    for (const { n, key } of journal) {
      if (n <= snapshot.journal) continue // covered: the snapshot was written, its journal not yet removed
      journaled++
      const data = await this.storage.load(key)
      if (data === undefined) continue
      let op: DecodedOp
      try {
        op = decodeOp(data)
      } catch {
        continue // as in a replay: never acknowledged in this form
      }
      decoded++
      state.add(op)
    }
    return { state, decoded, journaled }
  }

  /**
   * Rebuilds the state from every stored op, op by op in storage order (by author), holding no decoded
   * op it does not keep; forks and unfreezes among them are decided as they show.
   */
  async #replay (): Promise<number> {
    // Storage order (by author) is not causal: added in it, most ops would wait for ops of authors
    // further on, every one of them held decoded at once (3.9 GB at a million ops). Added in the order
    // they were signed (ts, then storage order: an author's seqs in turn), nearly every op finds its
    // past decided and is decided at once; the state is the same in any order. That order costs a
    // first decode of each op, to read its ts, and the ops' bytes kept meanwhile: packed in a few
    // large buffers, read one entry at a time where storage can scan (`scanRange`).
    const stored = new PackedBytes()
    const ts: number[] = []
    for await (const { data } of this.storage.scanRange?.(['op']) ?? await this.storage.loadRange(['op'])) {
      let t: number
      try {
        t = decodeOp(data).op.ts
      } catch {
        continue // a stored op that no longer decodes was never acknowledged in this form
      }
      stored.push(data)
      ts.push(t)
    }
    const order = Uint32Array.from({ length: ts.length }, (_, i) => i).sort((a, b) => (ts[a] as number) - (ts[b] as number) || a - b)
    // Every stored op was acknowledged within the pending bound; the bound holds again afterwards.
    const state = this.#freshState(Number.POSITIVE_INFINITY)
    // A copy each: a decoded op keeps its bytes, and a view would keep a whole block alive.
    for (const i of order) state.add(decodeOp(stored.at(i).slice()))
    const decoded = ts.length
    this.#state = state
    await this.#settleDirty()
    state.maxPending = this.#maxPending
    return decoded
  }
}
