/**
 * Snapshots of a LedgerState: everything the state holds, in a compact binary form, so a node restores
 * its state at start instead of replaying every stored op. Restoring a snapshot and adding more ops
 * behaves exactly as if the state had never stopped.
 *
 * Ops the state keeps as ops (pending and frozen) are not copied into the snapshot: it lists their
 * storage keys (`opKey`) and the caller hands them back from storage on restore. Void ops are kept by
 * the state as (author, seq, id) only, which is their storage key: they are restored from the snapshot.
 *
 * Layout (numbers in the writer's byte order, recorded in the header; a reader of the other order
 * refuses the snapshot):
 *
 *   header   56 bytes: magic "MGSS", u32 format version, u32 byte-order mark 0x01020304, u32 0,
 *            f64 payload length, sha256 of the payload
 *   payload  sections, each a u32 count then its items; arrays of f64 / u32 start 8-aligned (from the
 *            payload's start) so the reader takes typed-array views of them without copying:
 *            meta (grid id, journal counter covered, minted, burned, offset of the string table),
 *            chains (keys packed 33 bytes each, lengths, flags, scalar columns, ids packed 32 bytes
 *            each, verdicts), ops held as ops by (chain, seq, id) (pending, by the slot each waits
 *            for; frozen), frontiers, creditors, funding windows, payment ids, credit lists (seqs,
 *            amounts, burn-only flags, windows; running totals are recomputed), registrations,
 *            receipts, settled payments, void slots, the fork resolution, the decision order, an end
 *            mark, and last the string table (UTF-16 lengths, then all strings as one UTF-8 blob).
 */
import {
  bytesEqual, DEVICE_CATEGORIES, sha256Digest, toHex,
  type DecodedOp, type DeviceCategory, type OpId, type RegisterBody
} from '@microgrid/protocol'
import type { Equivocation } from './forks.ts'
import {
  Chain, LedgerState, RECEIPT_SPAN, receiptPosition,
  type CreditList, type LedgerStateParts, type Receipt, type Registration, type Role, type WindowAllocation
} from './state.ts'
import { opKey } from './storage.ts'

/** The layout version this code writes and reads. */
export const SNAPSHOT_FORMAT = 2

/** A snapshot that cannot be used: torn, corrupted, another format or grid, or an op it lists is missing. */
export class SnapshotError extends Error {
  override readonly name = 'SnapshotError'
}

export interface EncodeSnapshotOptions {
  /** The ledger's journal counter this snapshot covers (stored in the snapshot, under its checksum). */
  journal?: number
}

export interface RestoreOptions {
  maxPending?: number
  /**
   * The op stored under `key` (see `Snapshot.opKeys`): pending and frozen ops are restored from storage.
   * Required when the snapshot lists any.
   */
  opAt?: (key: readonly string[]) => DecodedOp | undefined
}

const MAGIC = Uint8Array.of(0x4d, 0x47, 0x53, 0x53) // "MGSS"
const HEADER = 56
const BOM = 0x01020304
const END = 0x454e4421
const ROLES: readonly Role[] = ['producer', 'generation-meter', 'consumer', 'utility']
const BODY_ROLES = ['producer', 'consumer', 'utility'] as const
const CONTRACTS = ['wholesale-seller', 'retail-seller'] as const

// Chain flags.
const READING_NULL = 1
const WHOLESALE_NULL = 2
const RETAIL_NULL = 4
const WINDOWS_NULL = 8
const PAYMENT_IDS_NULL = 16
/** Scalar columns per chain: lastTs, balance, declared, spent, burnOnly, reading, readingTs, wholesale, retail, frozenFrom. */
const SCALARS = 10
const HOST_LE = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1

// ---------------------------------------------------------------------------------------------------
// Writer and reader

class Writer {
  buf: Uint8Array
  view: DataView
  pos = 0
  readonly strings: string[] = []

  constructor (size: number) {
    this.buf = new Uint8Array(Math.max(1 << 12, size))
    this.view = new DataView(this.buf.buffer)
  }

  #room (n: number): void {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const buf = new Uint8Array(size)
    buf.set(this.buf.subarray(0, this.pos))
    this.buf = buf
    this.view = new DataView(buf.buffer)
  }

  align (k: number): void {
    const pad = (k - (this.pos % k)) % k
    this.#room(pad)
    this.buf.fill(0, this.pos, this.pos + pad)
    this.pos += pad
  }

  u8 (n: number): void { this.#room(1); this.buf[this.pos++] = n }
  u32 (n: number): void {
    if (!(n >= 0 && n <= 0xffffffff && Number.isInteger(n))) throw new RangeError(`snapshot: ${n} does not fit a u32`)
    this.#room(4); this.view.setUint32(this.pos, n, HOST_LE); this.pos += 4
  }

  f64 (n: number): void { this.#room(8); this.view.setFloat64(this.pos, n, HOST_LE); this.pos += 8 }
  str (s: string): void { this.strings.push(s) }

  /** A count, then `count` bytes filled by `fill` (given the view to write into). */
  bytes (count: number, fill: (out: Uint8Array) => void): void {
    this.u32(count)
    this.#room(count)
    const out = this.buf.subarray(this.pos, this.pos + count)
    fill(out)
    this.pos += count
  }

  u8s (values: ArrayLike<number>): void {
    this.bytes(values.length, out => out.set(values))
  }

  u32s (values: ArrayLike<number>): void {
    this.u32(values.length)
    this.align(4)
    this.#room(values.length * 4)
    new Uint32Array(this.buf.buffer, this.pos, values.length).set(values)
    this.pos += values.length * 4
  }

  f64s (values: ArrayLike<number>): void {
    this.u32(values.length)
    this.align(8)
    this.#room(values.length * 8)
    new Float64Array(this.buf.buffer, this.pos, values.length).set(values)
    this.pos += values.length * 8
  }
}

class Reader {
  readonly buf: Uint8Array
  readonly view: DataView
  pos = 0
  #table = ''
  #lengths: Uint32Array = new Uint32Array(0)
  #next = 0
  #at = 0

  constructor (payload: Uint8Array) {
    this.buf = payload
    this.view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength)
  }

  #need (n: number): void {
    if (this.pos + n > this.buf.length) throw new SnapshotError('snapshot: truncated')
  }

  align (k: number): void { this.pos += (k - (this.pos % k)) % k }
  u8 (): number { this.#need(1); return this.buf[this.pos++] as number }
  u32 (): number { this.#need(4); const n = this.view.getUint32(this.pos, HOST_LE); this.pos += 4; return n }
  f64 (): number { this.#need(8); const n = this.view.getFloat64(this.pos, HOST_LE); this.pos += 8; return n }

  bytes (expected?: number): Uint8Array {
    const n = this.u32()
    if (expected !== undefined && n !== expected) throw new SnapshotError(`snapshot: ${n} bytes where ${expected} were expected`)
    this.#need(n)
    const out = this.buf.subarray(this.pos, this.pos + n)
    this.pos += n
    return out
  }

  u8s (expected?: number): Uint8Array { return this.bytes(expected) }

  u32s (expected?: number): Uint32Array {
    const n = this.#count(expected)
    this.align(4)
    this.#need(n * 4)
    const out = new Uint32Array(this.buf.buffer, this.buf.byteOffset + this.pos, n)
    this.pos += n * 4
    return out
  }

  f64s (expected?: number): Float64Array {
    const n = this.#count(expected)
    this.align(8)
    this.#need(n * 8)
    const out = new Float64Array(this.buf.buffer, this.buf.byteOffset + this.pos, n)
    this.pos += n * 8
    return out
  }

  #count (expected: number | undefined): number {
    const n = this.u32()
    if (expected !== undefined && n !== expected) throw new SnapshotError(`snapshot: ${n} items where ${expected} were expected`)
    return n
  }

  /** Reads the string table at `offset` (it ends the payload), then goes back to where it was. */
  strings (offset: number): void {
    const pos = this.pos
    this.pos = offset
    this.#lengths = this.u32s()
    this.#table = new TextDecoder('utf-8', { fatal: true }).decode(this.bytes())
    if (this.pos !== this.buf.length) throw new SnapshotError('snapshot: does not end with its string table')
    this.#next = 0
    this.#at = 0
    this.pos = pos
  }

  /** Whether every string was read. */
  get stringsLeft (): number {
    return this.#lengths.length - this.#next
  }

  str (): string {
    if (this.#next >= this.#lengths.length) throw new SnapshotError('snapshot: string table exhausted')
    const end = this.#at + (this.#lengths[this.#next++] as number)
    const s = this.#table.slice(this.#at, end)
    this.#at = end
    return s
  }
}

// ---------------------------------------------------------------------------------------------------
// Encoding

/** Everything `state` holds, as snapshot bytes (see the layout above). */
export function encodeSnapshot (state: LedgerState, options: EncodeSnapshotOptions = {}): Uint8Array {
  const p = state.parts()
  const chains = p.chains
  const n = chains.length
  const indexOf = new Map<string, number>()
  for (const c of chains) indexOf.set(c.hex, c.idx)
  const chainOf = (hex: string): number => {
    const idx = indexOf.get(hex)
    if (idx === undefined) throw new RangeError(`snapshot: no chain ${hex}`)
    return idx
  }
  const slotOf = (slot: string): [number, number] => {
    const at = slot.lastIndexOf(':')
    return [chainOf(slot.slice(0, at)), Number(slot.slice(at + 1))]
  }
  // Sized from the state up front, so the buffer need not grow and is returned without a copy.
  let ops = 0
  let estimate = HEADER + (1 << 12) + n * (33 + 4 + 1 + 8 * SCALARS + 5 * 4) + p.order.length * 4 + p.receipts.size * 48 + p.settled.size * 56
  for (const c of chains) {
    ops += c.length
    estimate += c.frontier.size * 12 + c.creditors.size * 4 + (c.windows?.length ?? 0) * 24 + (c.paymentIds?.size ?? 0) * 20 + c.credits.size * 8
    for (const list of c.credits.values()) estimate += list.entries.length / 3 * 17
  }
  estimate += ops * 33
  const w = new Writer(estimate)
  w.pos = HEADER
  w.bytes(32, out => out.set(state.gridId))
  w.f64(options.journal ?? 0)
  w.f64(p.minted)
  w.f64(p.burned)
  const stringsAt = w.pos
  w.f64(0) // where the string table starts: it is written last

  // Chains.
  w.u32(n)
  w.bytes(n * 33, out => {
    for (const c of chains) {
      if (c.key.length !== 33) throw new RangeError('snapshot: keys are 33 bytes')
      out.set(c.key, c.idx * 33)
    }
  })
  w.u32s(chains.map(c => c.length))
  w.u8s(chains.map(c => (c.reading === null ? READING_NULL : 0) | (c.wholesale === null ? WHOLESALE_NULL : 0) |
    (c.retail === null ? RETAIL_NULL : 0) | (c.windows === null ? WINDOWS_NULL : 0) | (c.paymentIds === null ? PAYMENT_IDS_NULL : 0)))
  const scalars = new Float64Array(n * SCALARS)
  for (const c of chains) {
    scalars.set([c.lastTs, c.balance, c.declared, c.spent, c.burnOnly, c.reading ?? 0, c.readingTs, c.wholesale ?? 0, c.retail ?? 0, c.frozenFrom], c.idx * SCALARS)
  }
  w.f64s(scalars)
  w.bytes(ops * 32, out => {
    let at = 0
    for (const c of chains) { out.set(c.ids.subarray(0, c.length * 32), at); at += c.length * 32 }
  })
  w.bytes(ops, out => {
    let at = 0
    for (const c of chains) { out.set(c.status.subarray(0, c.length), at); at += c.length }
  })

  // Ops held as ops: by storage key (chain, seq, id).
  const held = (list: Iterable<DecodedOp>): void => {
    const idx: number[] = []
    const seqs: number[] = []
    const ids: OpId[] = []
    for (const d of list) { idx.push(chainOf(toHex(d.op.author))); seqs.push(d.op.seq); ids.push(d.id) }
    w.u32s(idx)
    w.f64s(seqs)
    w.bytes(ids.length * 32, out => { ids.forEach((id, i) => out.set(id, i * 32)) })
  }
  const waitSlots: number[] = []
  const waitSeqs: number[] = []
  const waitCounts: number[] = []
  for (const [slot, list] of p.waiting) {
    const [idx, seq] = slotOf(slot)
    waitSlots.push(idx); waitSeqs.push(seq); waitCounts.push(list.length)
  }
  w.u32s(waitSlots)
  w.f64s(waitSeqs)
  w.u32s(waitCounts)
  held([...p.waiting.values()].flat())
  held(p.frozenOps.values()) // filed under their own slot: restored from the op

  // Frontiers, creditors, funding windows, payment ids.
  const counts: number[] = []
  const others: number[] = []
  const seqs: number[] = []
  for (const c of chains) {
    counts.push(c.frontier.size)
    for (const [o, s] of c.frontier) { others.push(o); seqs.push(s) }
  }
  w.u32s(counts); w.u32s(others); w.f64s(seqs)
  w.u32s(chains.map(c => c.creditors.size))
  w.u32s(chains.flatMap(c => [...c.creditors]))
  w.u32s(chains.map(c => c.windows?.length ?? 0))
  w.f64s(chains.flatMap(c => (c.windows ?? []).flatMap(a => [a.from, a.until, a.remaining])))
  w.u32s(chains.map(c => c.paymentIds?.size ?? 0))
  for (const c of chains) if (c.paymentIds !== null) for (const id of c.paymentIds) w.str(id)

  // Credit lists.
  const listCounts: number[] = []
  const listTo: number[] = []
  const listLength: number[] = []
  let entries = 0
  for (const c of chains) {
    listCounts.push(c.credits.size)
    for (const [to, list] of c.credits) { listTo.push(to); listLength.push(list.entries.length / 3); entries += list.entries.length / 3 }
  }
  w.u32s(listCounts); w.u32s(listTo); w.u32s(listLength)
  const creditSeqs = new Float64Array(entries)
  const amounts = new Float64Array(entries)
  const burnOnly = new Uint8Array(entries)
  const windowAt: number[] = []
  const windowSpan: number[] = []
  let e = 0
  for (const c of chains) {
    for (const list of c.credits.values()) {
      const m = list.entries.length / 3
      if (!Number.isInteger(m)) throw new RangeError('snapshot: a credit list is ragged')
      const x = list.entries
      let before = 0
      for (let i = 0; i < m; i++, e++) {
        creditSeqs[e] = x[3 * i] as number
        amounts[e] = (x[3 * i + 1] as number) - (i > 0 ? x[3 * i - 2] as number : 0)
        const after = x[3 * i + 2] as number
        burnOnly[e] = after !== before ? 1 : 0
        before = after
        const window = list.windows?.get(i)
        if (window !== undefined) { windowAt.push(e); windowSpan.push(window.from, window.until) }
      }
    }
  }
  w.f64s(creditSeqs); w.f64s(amounts); w.u8s(burnOnly); w.u32s(windowAt); w.f64s(windowSpan)

  // Registrations: bodies once each (a producer's two registrations share theirs), then the entries.
  const bodies = new Map<RegisterBody, number>()
  for (const list of p.registrations.values()) for (const r of list) if (!bodies.has(r.body)) bodies.set(r.body, bodies.size)
  w.u32(bodies.size)
  for (const body of bodies.keys()) {
    w.u8(BODY_ROLES.indexOf(body.role))
    w.str(body.label)
    if (body.role === 'producer') {
      w.u32(chainOf(toHex(body.account))); w.u32(chainOf(toHex(body.meter))); w.f64(body.capacityW)
    } else if (body.role === 'consumer') {
      w.u32(chainOf(toHex(body.meter))); w.u8(DEVICE_CATEGORIES.indexOf(body.category))
      w.u8(body.position === null ? 0 : 1); w.f64(body.position?.[0] ?? 0); w.f64(body.position?.[1] ?? 0)
    } else {
      w.u32(chainOf(toHex(body.account)))
    }
  }
  w.u32(p.registrations.size)
  for (const [idx, list] of p.registrations) {
    w.u32(idx); w.u32(list.length)
    for (const r of list) {
      w.u8(ROLES.indexOf(r.role)); w.u32(r.registrar); w.f64(r.seq); w.f64(r.ts); w.u32(bodies.get(r.body) as number)
      w.bytes(32, out => out.set(r.id))
    }
  }

  // Receipts and settled payments.
  const m = p.receipts.size
  const rOracle = new Uint32Array(m)
  const rSeq = new Float64Array(m)
  const rPayer = new Uint32Array(m)
  const rPayee = new Uint32Array(m)
  const rContract = new Uint8Array(m)
  const rAmount = new Float64Array(m)
  let i = 0
  for (const [position, r] of p.receipts) {
    rOracle[i] = Math.floor(position / RECEIPT_SPAN); rSeq[i] = position % RECEIPT_SPAN; rPayer[i] = r.payer; rPayee[i] = r.payee
    rContract[i] = CONTRACTS.indexOf(r.contract); rAmount[i] = r.amount
    w.str(r.paymentId)
    i++
  }
  w.u32s(rOracle); w.f64s(rSeq); w.u32s(rPayer); w.u32s(rPayee); w.u8s(rContract); w.f64s(rAmount)
  w.u32(p.settled.size)
  w.f64s(Float64Array.from(p.settled))

  // Void slots and the fork resolution.
  const vIdx: number[] = []
  const vSeq: number[] = []
  const vCount: number[] = []
  const vIds: OpId[] = []
  for (const [slot, ids] of p.voidSlots) {
    const [idx, seq] = slotOf(slot)
    vIdx.push(idx); vSeq.push(seq); vCount.push(ids.length); vIds.push(...ids)
  }
  w.u32s(vIdx); w.f64s(vSeq); w.u32s(vCount)
  w.bytes(vIds.length * 32, out => vIds.forEach((id, i) => out.set(id, i * 32)))
  w.u32(p.voidIds.size)
  for (const hex of p.voidIds) w.str(hex)
  w.u32(p.equivocations.length)
  for (const eq of p.equivocations) {
    w.str(eq.author); w.f64(eq.seq); w.u32(eq.ids.length)
    for (const id of eq.ids) w.str(id)
  }

  // The decision order, an end mark, and the string table.
  w.u32s(p.order)
  w.u32(END)
  w.align(8)
  w.view.setFloat64(stringsAt, w.pos - HEADER, HOST_LE)
  w.u32s(w.strings.map(s => s.length))
  const utf8 = new TextEncoder().encode(w.strings.join(''))
  w.bytes(utf8.length, out => out.set(utf8))

  // A view when the estimate was close (a copy of tens of megabytes costs more than the slack).
  const out = w.buf.length - w.pos <= w.buf.length / 3 ? w.buf.subarray(0, w.pos) : w.buf.slice(0, w.pos)
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength)
  out.set(MAGIC, 0)
  view.setUint32(4, SNAPSHOT_FORMAT, true)
  view.setUint32(8, BOM, HOST_LE)
  view.setUint32(12, 0, true)
  view.setFloat64(16, w.pos - HEADER, true)
  out.set(sha256Digest(out.subarray(HEADER)), 24)
  return out
}

// ---------------------------------------------------------------------------------------------------
// Decoding

/**
 * A snapshot whose header and checksum are verified: its grid, the journal counter it covers and the
 * storage keys of the ops to hand back on `restore`. Opening costs one sha256 over the bytes.
 */
export class Snapshot {
  readonly format: number
  readonly gridId: OpId
  readonly journal: number
  /** Storage keys (`opKey`) of the pending and frozen ops the state holds: `restore` asks for each. */
  readonly opKeys: string[][]
  readonly byteLength: number
  readonly #r: Reader
  #used = false

  private constructor (r: Reader, gridId: OpId, journal: number, byteLength: number) {
    this.format = SNAPSHOT_FORMAT
    this.#r = r
    this.gridId = gridId
    this.journal = journal
    this.byteLength = byteLength
    this.opKeys = []
  }

  /** Checks the header and checksum; throws `SnapshotError` if the bytes are not a usable snapshot. */
  static open (bytes: Uint8Array): Snapshot {
    if (!(bytes instanceof Uint8Array) || bytes.length < HEADER) throw new SnapshotError('snapshot: too short')
    if (!bytesEqual(bytes.subarray(0, 4), MAGIC)) throw new SnapshotError('snapshot: not a snapshot')
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const format = view.getUint32(4, true)
    if (format !== SNAPSHOT_FORMAT) throw new SnapshotError(`snapshot: format ${format}, this code reads ${SNAPSHOT_FORMAT}`)
    if (view.getUint32(8, HOST_LE) !== BOM) throw new SnapshotError('snapshot: written on a machine of the other byte order')
    if (view.getUint32(12, true) !== 0) throw new SnapshotError('snapshot: header')
    const length = view.getFloat64(16, true)
    if (length !== bytes.length - HEADER) throw new SnapshotError(`snapshot: ${bytes.length - HEADER} payload bytes, the header says ${length}`)
    let payload = bytes.subarray(HEADER)
    if (!bytesEqual(sha256Digest(payload), bytes.subarray(24, HEADER))) throw new SnapshotError('snapshot: checksum mismatch')
    if (payload.byteOffset % 8 !== 0) payload = payload.slice() // typed views need aligned offsets
    const r = new Reader(payload)
    try {
      const gridId = r.bytes(32).slice()
      const journal = r.f64()
      const snapshot = new Snapshot(r, gridId, journal, bytes.length)
      snapshot.#readKeys()
      return snapshot
    } catch (err) {
      throw err instanceof SnapshotError ? err : new SnapshotError(`snapshot: ${(err as Error).message}`)
    }
  }

  #minted = 0
  #burned = 0
  #chains: Chain[] = []
  #waitSlots: Uint32Array = new Uint32Array(0)
  #waitSeqs: Float64Array = new Float64Array(0)
  #waitCounts: Uint32Array = new Uint32Array(0)
  #pending: Array<[number, number, OpId]> = []
  #frozen: Array<[number, number, OpId]> = []

  /** Reads up to the op keys: meta, strings, chains, pending and frozen ops. */
  #readKeys (): void {
    const r = this.#r
    this.#minted = r.f64()
    this.#burned = r.f64()
    r.strings(r.f64())
    const n = r.u32()
    const keys = r.bytes(n * 33)
    const hex = toHex(keys)
    const lengths = r.u32s(n)
    const flags = r.u8s(n)
    const scalars = r.f64s(n * SCALARS)
    let ops = 0
    for (let i = 0; i < n; i++) ops += lengths[i] as number
    const ids = r.bytes(ops * 32)
    const status = r.bytes(ops)
    let at = 0
    for (let i = 0; i < n; i++) {
      const c = new Chain(i, keys.slice(i * 33, i * 33 + 33), hex.slice(i * 66, i * 66 + 66))
      const length = lengths[i] as number
      const capacity = Math.max(4, length + (length >>> 3))
      c.ids = new Uint8Array(capacity * 32)
      c.ids.set(ids.subarray(at * 32, (at + length) * 32))
      c.status = new Uint8Array(capacity)
      c.status.set(status.subarray(at, at + length))
      c.length = length
      at += length
      const f = flags[i] as number
      const s = i * SCALARS
      c.lastTs = scalars[s] as number
      c.balance = scalars[s + 1] as number
      c.declared = scalars[s + 2] as number
      c.spent = scalars[s + 3] as number
      c.burnOnly = scalars[s + 4] as number
      c.reading = (f & READING_NULL) !== 0 ? null : scalars[s + 5] as number
      c.readingTs = scalars[s + 6] as number
      c.wholesale = (f & WHOLESALE_NULL) !== 0 ? null : scalars[s + 7] as number
      c.retail = (f & RETAIL_NULL) !== 0 ? null : scalars[s + 8] as number
      c.frozenFrom = scalars[s + 9] as number
      c.windows = (f & WINDOWS_NULL) !== 0 ? null : []
      c.paymentIds = (f & PAYMENT_IDS_NULL) !== 0 ? null : new Set()
      this.#chains.push(c)
    }
    this.#waitSlots = r.u32s()
    this.#waitSeqs = r.f64s(this.#waitSlots.length)
    this.#waitCounts = r.u32s(this.#waitSlots.length)
    this.#pending = this.#held()
    this.#frozen = this.#held()
    for (const [idx, seq, id] of [...this.#pending, ...this.#frozen]) this.opKeys.push(opKey(this.#chain(idx).hex, seq, id))
  }

  #chain (idx: number): Chain {
    const c = this.#chains[idx]
    if (c === undefined) throw new SnapshotError(`snapshot: no chain ${idx}`)
    return c
  }

  #held (): Array<[number, number, OpId]> {
    const r = this.#r
    const idx = r.u32s()
    const seqs = r.f64s(idx.length)
    const ids = r.bytes(idx.length * 32)
    return Array.from(idx, (c, i) => [c, seqs[i] as number, ids.slice(i * 32, i * 32 + 32)])
  }

  /**
   * The state the snapshot holds, for `genesis`. Pending and frozen ops come from `options.opAt`.
   * Throws `SnapshotError` if the snapshot is of another grid, an op it lists is not given, or its
   * contents do not add up. A snapshot restores once.
   */
  restore (genesis: DecodedOp, options: RestoreOptions = {}): LedgerState {
    if (this.#used) throw new SnapshotError('snapshot: already restored')
    this.#used = true
    if (!bytesEqual(genesis.id, this.gridId)) throw new SnapshotError('snapshot: of another grid')
    try {
      return this.#restore(genesis, options)
    } catch (err) {
      throw err instanceof SnapshotError ? err : new SnapshotError(`snapshot: ${(err as Error).message}`)
    }
  }

  #restore (genesis: DecodedOp, options: RestoreOptions): LedgerState {
    const r = this.#r
    const chains = this.#chains
    const n = chains.length
    const chain = (idx: number): Chain => this.#chain(idx)

    // Ops held as ops, from the caller.
    const opOf = ([idx, seq, id]: [number, number, OpId]): DecodedOp => {
      const c = chain(idx)
      const key = opKey(c.hex, seq, id)
      const d = options.opAt?.(key)
      if (d === undefined) throw new SnapshotError(`snapshot: the op ${key.join('/')} is not available`)
      if (d.op.seq !== seq || !bytesEqual(d.id, id) || !bytesEqual(d.op.author, c.key)) throw new SnapshotError(`snapshot: another op was given for ${key.join('/')}`)
      return d
    }
    const waiting = new Map<string, DecodedOp[]>()
    let k = 0
    for (let i = 0; i < this.#waitSlots.length; i++) {
      const list: DecodedOp[] = []
      for (let j = 0; j < (this.#waitCounts[i] as number); j++) {
        const held = this.#pending[k++]
        if (held === undefined) throw new SnapshotError('snapshot: pending ops do not add up')
        list.push(opOf(held))
      }
      waiting.set(`${chain(this.#waitSlots[i] as number).hex}:${this.#waitSeqs[i] as number}`, list)
    }
    if (k !== this.#pending.length) throw new SnapshotError('snapshot: pending ops do not add up')
    const frozenOps = new Map<string, DecodedOp>()
    for (const held of this.#frozen) frozenOps.set(`${chain(held[0]).hex}:${held[1]}`, opOf(held))

    // Frontiers, creditors, funding windows, payment ids.
    {
      const counts = r.u32s(n)
      const others = r.u32s()
      const seqs = r.f64s(others.length)
      let e = 0
      for (let i = 0; i < n; i++) {
        const frontier = (chains[i] as Chain).frontier
        for (let end = e + (counts[i] as number); e < end; e++) frontier.set(others[e] as number, seqs[e] as number)
      }
      if (e !== others.length) throw new SnapshotError('snapshot: frontiers do not add up')
    }
    {
      const counts = r.u32s(n)
      const idx = r.u32s()
      let e = 0
      for (let i = 0; i < n; i++) {
        const creditors = (chains[i] as Chain).creditors
        for (let end = e + (counts[i] as number); e < end; e++) creditors.add(idx[e] as number)
      }
      if (e !== idx.length) throw new SnapshotError('snapshot: creditors do not add up')
    }
    {
      const counts = r.u32s(n)
      const spans = r.f64s()
      let e = 0
      for (let i = 0; i < n; i++) {
        const windows = (chains[i] as Chain).windows
        const m = counts[i] as number
        if (windows === null) { if (m !== 0) throw new SnapshotError('snapshot: windows of a chain without'); continue }
        for (let j = 0; j < m; j++, e += 3) {
          const a: WindowAllocation = { from: spans[e] as number, until: spans[e + 1] as number, remaining: spans[e + 2] as number }
          windows.push(a)
        }
      }
      if (e !== spans.length) throw new SnapshotError('snapshot: windows do not add up')
    }
    // One string per payment id, shared by the oracle's set and its receipt (a million of them add up).
    const paymentIdText = new Map<string, string>()
    {
      const counts = r.u32s(n)
      for (let i = 0; i < n; i++) {
        const ids = (chains[i] as Chain).paymentIds
        const m = counts[i] as number
        if (ids === null) { if (m !== 0) throw new SnapshotError('snapshot: payment ids of a chain without'); continue }
        for (let j = 0; j < m; j++) {
          const id = r.str()
          ids.add(id)
          paymentIdText.set(id, id)
        }
      }
    }

    // Credit lists; running totals are sums of the amounts in order, as the rules made them.
    {
      const listCounts = r.u32s(n)
      const listTo = r.u32s()
      const listLength = r.u32s(listTo.length)
      const seqs = r.f64s()
      const amounts = r.f64s(seqs.length)
      const burnOnly = r.u8s(seqs.length)
      const windowAt = r.u32s()
      const windowSpan = r.f64s(windowAt.length * 2)
      let l = 0
      let e = 0
      let w = 0
      for (let i = 0; i < n; i++) {
        const credits = (chains[i] as Chain).credits
        for (let endList = l + (listCounts[i] as number); l < endList; l++) {
          const m = listLength[l] as number
          // Sized exactly: pushes would leave room to grow in every one of many short lists.
          const list: CreditList = { entries: new Array<number>(3 * m), windows: null }
          let total = 0
          let totalBurnOnly = 0
          for (let j = 0; j < m; j++, e++) {
            const wh = amounts[e] as number
            total += wh
            if (burnOnly[e] === 1) totalBurnOnly += wh
            list.entries[3 * j] = seqs[e] as number
            list.entries[3 * j + 1] = total
            list.entries[3 * j + 2] = totalBurnOnly
            if (windowAt[w] === e) {
              (list.windows ??= new Map()).set(j, { from: windowSpan[2 * w] as number, until: windowSpan[2 * w + 1] as number })
              w++
            }
          }
          credits.set(listTo[l] as number, list)
        }
      }
      if (l !== listTo.length || e !== seqs.length || w !== windowAt.length) throw new SnapshotError('snapshot: credit lists do not add up')
    }

    // Registrations.
    const keyOf = (idx: number): Uint8Array => chain(idx).key.slice()
    const bodies: RegisterBody[] = []
    for (let i = r.u32(); i > 0; i--) {
      const role = BODY_ROLES[r.u8()]
      const label = r.str()
      if (role === 'producer') {
        const account = keyOf(r.u32())
        const meter = keyOf(r.u32())
        bodies.push({ role, account, meter, capacityW: r.f64(), label })
      } else if (role === 'consumer') {
        const meter = keyOf(r.u32())
        const category = DEVICE_CATEGORIES[r.u8()] as DeviceCategory | undefined
        if (category === undefined) throw new SnapshotError('snapshot: device category')
        const hasPosition = r.u8() === 1
        const lat = r.f64()
        const lon = r.f64()
        bodies.push({ role, meter, label, category, position: hasPosition ? [lat, lon] : null })
      } else if (role === 'utility') {
        bodies.push({ role, account: keyOf(r.u32()), label })
      } else {
        throw new SnapshotError('snapshot: registration role')
      }
    }
    const registrations = new Map<number, Registration[]>()
    for (let i = r.u32(); i > 0; i--) {
      const idx = r.u32()
      const list: Registration[] = []
      for (let j = r.u32(); j > 0; j--) {
        const role = ROLES[r.u8()]
        const registrar = r.u32()
        const seq = r.f64()
        const ts = r.f64()
        const body = bodies[r.u32()]
        const id = r.bytes(32).slice()
        if (role === undefined || body === undefined) throw new SnapshotError('snapshot: registration')
        list.push({ role, registrar, seq, id, ts, body })
      }
      registrations.set(idx, list)
    }

    // Receipts and settled payments.
    const receipts = new Map<number, Receipt>()
    const interned = (text: string): string => paymentIdText.get(text) ?? text
    {
      const oracle = r.u32s()
      const m = oracle.length
      const seq = r.f64s(m)
      const payer = r.u32s(m)
      const payee = r.u32s(m)
      const contract = r.u8s(m)
      const amount = r.f64s(m)
      for (let i = 0; i < m; i++) {
        const c = CONTRACTS[contract[i] as number]
        if (c === undefined) throw new SnapshotError('snapshot: receipt contract')
        receipts.set(receiptPosition(oracle[i] as number, seq[i] as number), { payer: payer[i] as number, payee: payee[i] as number, contract: c, amount: amount[i] as number, paymentId: interned(r.str()) })
      }
    }
    const settled = new Set<number>()
    {
      const m = r.u32()
      for (const position of r.f64s(m)) settled.add(position)
    }

    // Void slots and the fork resolution.
    const voidSlots = new Map<string, OpId[]>()
    {
      const idx = r.u32s()
      const seq = r.f64s(idx.length)
      const count = r.u32s(idx.length)
      const ids = r.bytes()
      let e = 0
      for (let i = 0; i < idx.length; i++) {
        const list: OpId[] = []
        for (let j = 0; j < (count[i] as number); j++, e++) list.push(ids.slice(e * 32, e * 32 + 32))
        voidSlots.set(`${chain(idx[i] as number).hex}:${seq[i] as number}`, list)
      }
      if (e * 32 !== ids.length) throw new SnapshotError('snapshot: void slots do not add up')
    }
    const voidIds = new Set<string>()
    for (let i = r.u32(); i > 0; i--) voidIds.add(r.str())
    const equivocations: Equivocation[] = []
    for (let i = r.u32(); i > 0; i--) {
      const author = r.str()
      const seq = r.f64()
      const ids: string[] = []
      for (let j = r.u32(); j > 0; j--) ids.push(r.str())
      equivocations.push({ author, seq, ids })
    }

    const order = r.u32s()
    if (r.u32() !== END || r.stringsLeft !== 0) throw new SnapshotError('snapshot: does not end where it should')

    const parts: LedgerStateParts = {
      chains, registrations, receipts, settled, waiting, frozenOps, voidSlots, voidIds, equivocations, order,
      minted: this.#minted, burned: this.#burned
    }
    return LedgerState.restore(genesis, parts, { maxPending: options.maxPending })
  }
}

/** The state a snapshot holds (see `Snapshot.open` and `Snapshot.restore`). Throws `SnapshotError`. */
export function decodeSnapshot (genesis: DecodedOp, bytes: Uint8Array, options: RestoreOptions = {}): LedgerState {
  return Snapshot.open(bytes).restore(genesis, options)
}
