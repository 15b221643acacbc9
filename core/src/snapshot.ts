/**
 * Snapshots of a LedgerState: everything the state holds, in a compact binary form, so a node restores
 * its state at start instead of deciding every stored op again. Restoring a snapshot and adding more
 * ops behaves exactly as if the state had never stopped.
 *
 * The payload is a list of sections; each section's writer and reader sit side by side below (as
 * y-protocols and hypercore keep `write`/`read` of one record together), so a change to one part of
 * the state touches one pair. Ops the state holds undecided (pending, frozen) are not copied: the
 * snapshot lists their storage keys (`opKey`) and `restore` adds them again from the caller.
 *
 * Where the state keeps a structure in typed arrays (frontier and creditor tables, credit books,
 * device funds, the receipt store), a section writes those arrays as they are, hash indexes included
 * (the receipt index with the seed that placed it), and the reader hands each structure copies of
 * them: a restore is copies of arrays, not a rebuild entry by entry (at a million ops it took a third
 * of the time the rebuild did).
 *
 * Layout (numbers in the writer's byte order, recorded in the header; a reader of the other order
 * refuses the snapshot):
 *
 *   header   56 bytes: magic "MGSS", u32 format version, u32 byte-order mark 0x01020304, u32 0,
 *            f64 payload length, sha256 of the payload
 *   payload  the sections in SECTIONS order (arrays of f64 / u32 start 8-aligned from the payload's
 *            start, so the reader takes typed-array views without copying), an end mark, and last the
 *            string table (the UTF-8 byte length of each string, then all strings as one UTF-8 blob;
 *            each string is decoded on its own)
 */
import {
  bytesEqual, DEVICE_CATEGORIES, sha256Digest, toHex,
  type DecodedOp, type DeviceCategory, type FundingWindow, type OpId, type RegisterBody
} from '@microgrid/protocol'
import { Chain, type ReadonlyDeviceFunds } from './chain.ts'
import { CREDIT_DIR, DeviceFunds, FUNDER_COLUMNS, type WindowFunds } from './credits.ts'
import { tableLength } from './int-map.ts'
import type { Equivocation } from './forks.ts'
import { ReceiptStore, SALE_CONTRACTS as CONTRACTS } from './receipts.ts'
import { LedgerState, type LedgerStateParts, type LedgerStatePartsView, type Registration, type Role } from './state.ts'
import { opKey } from './storage.ts'

/** The layout version this code writes and reads. */
export const SNAPSHOT_FORMAT = 5

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
   * The op stored under `key` (see `Snapshot.opKeys`): pending and frozen ops are added again from
   * storage. Required when the snapshot lists any.
   */
  opAt?: (key: readonly string[]) => DecodedOp | undefined
}

const MAGIC = Uint8Array.of(0x4d, 0x47, 0x53, 0x53) // "MGSS"
const HEADER = 56
const BOM = 0x01020304
const END = 0x454e4421
const ROLES: readonly Role[] = ['producer', 'generation-meter', 'consumer', 'utility']
const BODY_ROLES = ['producer', 'consumer', 'utility'] as const
const HOST_LE = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1
const NULL = -1
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
/** Node's native one-byte string maker, for the (ASCII) strings of the table, where there is one. */
const latin1Slice = (globalThis as { Buffer?: { prototype: { latin1Slice?: (this: Uint8Array, start: number, end: number) => string } } }).Buffer?.prototype.latin1Slice

/** UTF-8 byte length of a string (what TextEncoder makes of it: a lone surrogate is 3 bytes). */
function utf8Length (s: string): number {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) n += 1
    else if (c < 0x800) n += 2
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) { n += 4; i++ } else n += 3
  }
  return n
}

/**
 * A number as the engine keeps it most compactly: a small integer stays a small integer (read from a
 * Float64Array into an object field or an array, it would make the field or the array hold doubles).
 */
function int (x: number): number {
  return x <= 0x3fffffff && x >= -0x40000000 && Number.isInteger(x) ? x | 0 : x
}

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

  u32s (values: ArrayLike<number>): void { this.#array(values, 4, (at, n) => new Uint32Array(this.buf.buffer, at, n)) }
  i32s (values: ArrayLike<number>): void { this.#array(values, 4, (at, n) => new Int32Array(this.buf.buffer, at, n)) }

  /** A count, then the numbers, aligned to their `size`. */
  #array (values: ArrayLike<number>, size: number, view: (at: number, n: number) => Uint32Array | Int32Array | Float64Array): void {
    this.u32(values.length)
    this.align(size)
    this.#room(values.length * size)
    view(this.pos, values.length).set(values)
    this.pos += values.length * size
  }

  /** Arrays one after the other, as one array (their lengths are written elsewhere). */
  i32Parts (parts: ReadonlyArray<ArrayLike<number> | null>): void {
    this.#parts(parts, 4, (at, n) => new Int32Array(this.buf.buffer, at, n))
  }

  f64Parts (parts: ReadonlyArray<ArrayLike<number> | null>): void {
    this.#parts(parts, 8, (at, n) => new Float64Array(this.buf.buffer, at, n))
  }

  #parts (parts: ReadonlyArray<ArrayLike<number> | null>, size: 4 | 8, view: (at: number, n: number) => Int32Array | Float64Array): void {
    let n = 0
    for (const part of parts) n += part?.length ?? 0
    this.u32(n)
    this.align(size)
    this.#room(n * size)
    const out = view(this.pos, n)
    let at = 0
    for (const part of parts) {
      if (part === null) continue
      out.set(part, at)
      at += part.length
    }
    this.pos += n * size
  }

  f64s (values: ArrayLike<number>): void { this.#array(values, 8, (at, n) => new Float64Array(this.buf.buffer, at, n)) }

}

class Reader {
  readonly buf: Uint8Array
  readonly view: DataView
  pos = 0
  #table: Uint8Array = new Uint8Array(0)
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

  u32s (expected?: number): Uint32Array { return this.#array(expected, 4, (b, at, n) => new Uint32Array(b, at, n)) }
  i32s (expected?: number): Int32Array { return this.#array(expected, 4, (b, at, n) => new Int32Array(b, at, n)) }
  f64s (expected?: number): Float64Array { return this.#array(expected, 8, (b, at, n) => new Float64Array(b, at, n)) }

  /** A count, then that many numbers of `size` bytes, aligned: a view of them. */
  #array<T> (expected: number | undefined, size: number, view: (buffer: ArrayBufferLike, at: number, n: number) => T): T {
    const n = this.#count(expected)
    this.align(size)
    this.#need(n * size)
    const out = view(this.buf.buffer, this.buf.byteOffset + this.pos, n)
    this.pos += n * size
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
    this.#table = this.bytes()
    let total = 0
    for (const n of this.#lengths) total += n
    if (total !== this.#table.length) throw new SnapshotError('snapshot: string lengths do not add up')
    this.#next = 0
    this.#at = 0
    this.pos = pos
  }

  /** Whether every string was read. */
  get stringsLeft (): number {
    return this.#lengths.length - this.#next
  }

  /**
   * The next string, decoded on its own: slices of one big decoded table would keep the whole table
   * alive for as long as any of them lives.
   */
  str (): string {
    if (this.#next >= this.#lengths.length) throw new SnapshotError('snapshot: string table exhausted')
    const at = this.#at
    const end = at + (this.#lengths[this.#next++] as number)
    this.#at = end
    const t = this.#table
    let ascii = true
    for (let i = at; i < end; i++) if ((t[i] as number) >= 0x80) { ascii = false; break }
    if (ascii && latin1Slice !== undefined) return latin1Slice.call(t, at, end)
    try {
      return strictUtf8.decode(t.subarray(at, end))
    } catch {
      throw new SnapshotError('snapshot: a string is not UTF-8')
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Sections: each writes one part of the state and reads it back.

/** What the writers read: the state's parts, lent read-only. */
interface Writing {
  readonly p: LedgerStatePartsView
  readonly gridId: OpId
  readonly journal: number
}

/** What the readers fill in, section by section. */
interface Reading {
  gridId: OpId
  journal: number
  chains: Chain[]
  /** Storage keys of the held ops to add again on restore. */
  held: string[][]
  parts: Omit<LedgerStateParts, 'chains' | 'order'> & { order: Uint32Array }
}

interface Section {
  readonly name: string
  write: (w: Writer, s: Writing) => void
  read: (r: Reader, s: Reading) => void
}

const chainAt = (s: Reading, idx: number): Chain => {
  const c = s.chains[idx]
  if (c === undefined) throw new SnapshotError(`snapshot: no chain ${idx}`)
  return c
}

/** Per-chain counts, then items: the shape of most sections. */
function readCounts (r: Reader, s: Reading): Uint32Array {
  return r.u32s(s.chains.length)
}

const meta: Section = {
  name: 'meta',
  write (w, s) {
    w.bytes(32, out => out.set(s.gridId))
    w.f64(s.journal)
    w.f64(s.p.minted)
    w.f64(s.p.burned)
  },
  read (r, s) {
    s.gridId = r.bytes(32).slice()
    s.journal = r.f64()
    s.parts.minted = r.f64()
    s.parts.burned = r.f64()
  }
}

/** Scalar columns per chain. */
const SCALARS = ['lastTs', 'witnessed', 'balance', 'declared', 'spent', 'readingTs', 'minted', 'burned'] as const

const chains: Section = {
  name: 'chains',
  write (w, { p }) {
    const cs = p.chains
    const n = cs.length
    w.u32(n)
    w.bytes(n * 33, out => { for (const c of cs) out.set(c.key, c.idx * 33) })
    w.u32s(cs.map(c => c.length))
    const scalars = new Float64Array(n * (SCALARS.length + 2))
    for (const c of cs) {
      const at = c.idx * (SCALARS.length + 2)
      SCALARS.forEach((k, i) => { scalars[at + i] = c[k] })
      scalars[at + SCALARS.length] = c.reading ?? NULL
      scalars[at + SCALARS.length + 1] = Number.isFinite(c.frozenFrom) ? c.frozenFrom : NULL
    }
    w.f64s(scalars)
    let ops = 0
    for (const c of cs) ops += c.length
    w.bytes(ops * 32, out => { let at = 0; for (const c of cs) { out.set(c.ids.subarray(0, c.length * 32), at); at += c.length * 32 } })
    w.bytes(ops, out => { let at = 0; for (const c of cs) { out.set(c.status.subarray(0, c.length), at); at += c.length } })
    // Authority chains keep the ts of each op (witnessed time).
    const timed = cs.filter(c => c.tsAt !== null)
    w.u32s(timed.map(c => c.idx))
    w.f64s(Float64Array.from(timed.flatMap(c => Array.from((c.tsAt as Float64Array).subarray(0, c.length)))))
  },
  read (r, s) {
    const n = r.u32()
    const keys = r.bytes(n * 33)
    const allKeys = keys.slice()
    const lengths = r.u32s(n)
    const width = SCALARS.length + 2
    const scalars = r.f64s(n * width)
    let ops = 0
    for (let i = 0; i < n; i++) ops += lengths[i] as number
    const ids = r.bytes(ops * 32)
    const status = r.bytes(ops)
    let at = 0
    for (let i = 0; i < n; i++) {
      // Keys are views of one copy of them all (a buffer per key would cost ten times the key).
      const key = allKeys.subarray(i * 33, i * 33 + 33)
      const c = new Chain(i, key, toHex(key))
      const length = lengths[i] as number
      // Room for a few more ops only: a chain that grows copies its ids once, instead of every chain
      // keeping an eighth more than it holds.
      c.reserve(length + 4)
      c.ids.set(ids.subarray(at * 32, (at + length) * 32))
      c.status.set(status.subarray(at, at + length))
      c.length = length
      at += length
      const base = i * width
      SCALARS.forEach((k, j) => { c[k] = int(scalars[base + j] as number) })
      const reading = scalars[base + SCALARS.length] as number
      c.reading = reading === NULL ? null : reading
      const frozen = scalars[base + SCALARS.length + 1] as number
      c.frozenFrom = frozen === NULL ? Number.POSITIVE_INFINITY : frozen
      s.chains.push(c)
    }
    const timed = r.u32s()
    let total = 0
    for (const idx of timed) total += chainAt(s, idx).length
    const ts = r.f64s(total)
    let t = 0
    for (const idx of timed) {
      const c = chainAt(s, idx)
      c.tsAt = new Float64Array(Math.max(16, c.length + (c.length >>> 3)))
      c.tsAt.set(ts.subarray(t, t + c.length))
      t += c.length
    }
  }
}

/** Ops held undecided: pending and frozen by storage key (added again on restore), void ones by (chain, seq, id). */
const held: Section = {
  name: 'held',
  write (w, { p }) {
    const ops = [...p.held.pending.values(), ...[...p.held.frozen.values()].map(f => f.op)]
    w.u32(ops.length)
    for (const d of ops) w.str(opKey(d.op.author, d.op.seq, d.id).join('/'))
    const voids = [...p.held.void]
    w.u32s(voids.map(([, v]) => v.chain))
    w.f64s(voids.map(([, v]) => v.seq))
    for (const [id] of voids) w.str(id)
  },
  read (r, s) {
    for (let i = r.u32(); i > 0; i--) s.held.push(r.str().split('/'))
    const vChain = r.u32s()
    const vSeq = r.f64s(vChain.length)
    for (let i = 0; i < vChain.length; i++) s.parts.voids.push({ chain: vChain[i] as number, seq: int(vSeq[i] as number), id: r.str() })
  }
}

/**
 * Each chain's frontier and creditors: their tables' own buffers (keys, values and the index over
 * them), taken back as they were rather than built again entry by entry.
 */
const frontiers: Section = {
  name: 'frontiers',
  write (w, { p }) {
    for (const images of [p.chains.map(c => c.frontier.image()), p.chains.map(c => c.creditors.image())]) {
      w.u32s(images.map(x => x.capacity))
      w.i32Parts(images.map(x => x.buf))
    }
  },
  read (r, s) {
    for (const [width, table] of [[2, (c: Chain) => c.frontier], [1, (c: Chain) => c.creditors]] as const) {
      const capacities = readCounts(r, s)
      const all = r.i32s()
      let at = 0
      for (const c of s.chains) {
        const capacity = capacities[c.idx] as number
        const n = tableLength(width, capacity)
        if (at + n > all.length) throw new SnapshotError('snapshot: frontiers do not add up')
        table(c).adopt(capacity === 0 ? null : all.slice(at, at + n), capacity)
        at += n
      }
      if (at !== all.length) throw new SnapshotError('snapshot: frontiers do not add up')
    }
  }
}

const prices: Section = {
  name: 'prices',
  write (w, { p }) {
    w.u32s(p.chains.map(c => (c.prices?.length ?? 0) / 3))
    w.f64s(p.chains.flatMap(c => c.prices ?? []))
  },
  read (r, s) {
    const counts = readCounts(r, s)
    const all = r.f64s()
    let e = 0
    for (const c of s.chains) {
      const m = counts[c.idx] as number
      if (m > 0) c.prices = Array.from(all.subarray(e, e + 3 * m))
      e += 3 * m
    }
    if (e !== all.length) throw new SnapshotError('snapshot: prices do not add up')
  }
}

/** Device funding: each device's funder columns (put, burned, returned, general) and index as they are, and its open or upcoming windows. */
const funds: Section = {
  name: 'funds',
  write (w, { p }) {
    const devices = p.chains.filter(c => c.funds !== null)
    const all = devices.map(c => c.funds as ReadonlyDeviceFunds)
    const images = all.map(f => f.image())
    w.u32s(devices.map(c => c.idx))
    w.u32s(images.map(x => x.funder.length))
    w.i32Parts(images.map(x => x.funder))
    w.f64Parts(images.map(x => x.account))
    w.u32s(images.map(x => x.index?.length ?? 0))
    w.i32Parts(images.map(x => x.index))
    w.u32s(all.map(f => f.windows.length))
    w.u32s(all.flatMap(f => f.windows.map(x => x.funder)))
    w.f64s(all.flatMap(f => f.windows.flatMap(x => [x.from, x.until, x.remaining])))
  },
  read (r, s) {
    const devices = r.u32s()
    const funderCounts = r.u32s(devices.length)
    const funders = r.i32s()
    const accounts = r.f64s()
    const indexLengths = r.u32s(devices.length)
    const indexes = r.i32s()
    const windowCounts = r.u32s(devices.length)
    const windowFunders = r.u32s()
    const spans = r.f64s(windowFunders.length * 3)
    let f = 0
    let i = 0
    let x = 0
    devices.forEach((idx, d) => {
      const n = funderCounts[d] as number
      const m = indexLengths[d] as number
      if (f + n > funders.length || i + m > indexes.length) throw new SnapshotError('snapshot: device funds do not add up')
      const windows: WindowFunds[] = []
      for (let end = x + (windowCounts[d] as number); x < end; x++) {
        windows.push({ funder: windowFunders[x] as number, from: spans[3 * x] as number, until: spans[3 * x + 1] as number, remaining: int(spans[3 * x + 2] as number) })
      }
      const funds = chainAt(s, idx).funds = new DeviceFunds()
      funds.adopt(funders.slice(f, f + n), accounts.slice(FUNDER_COLUMNS * f, FUNDER_COLUMNS * (f + n)), m === 0 ? null : indexes.slice(i, i + m), windows)
      f += n
      i += m
    })
    if (f !== funders.length || i !== indexes.length || x !== windowFunders.length) throw new SnapshotError('snapshot: device funds do not add up')
  }
}

/** The sellers whose settlements the receipts section holds: each chain's view of what it settled. */
const settled: Section = {
  name: 'settled',
  write (w, { p }) {
    w.u32s(p.chains.filter(c => c.settledIds !== null).map(c => c.idx))
  },
  read (r, s) {
    for (const idx of r.u32s()) chainAt(s, idx).settledIds = s.parts.receipts.settledView(idx)
  }
}

/** Each chain's credit book, packed (directory, arena, index), and the funding windows of its credits. */
const credits: Section = {
  name: 'credits',
  write (w, { p }) {
    const images = p.chains.map(c => c.credits.image())
    w.u32s(images.map(x => x.lists))
    w.i32Parts(images.map(x => x.dir))
    w.u32s(images.map(x => x.data?.length ?? 0))
    w.f64Parts(images.map(x => x.data))
    w.u32s(images.map(x => x.index?.length ?? 0))
    w.i32Parts(images.map(x => x.index))
    const windows = images.map(x => [...x.windows ?? []].flatMap(([id, list]) => [...list].map(([entry, window]) => ({ id, entry, window }))))
    w.u32s(windows.map(list => list.length))
    w.u32s(windows.flatMap(list => list.flatMap(x => [x.id, x.entry])))
    w.f64s(windows.flatMap(list => list.flatMap(x => [x.window.from, x.window.until])))
  },
  read (r, s) {
    const lists = readCounts(r, s)
    const dirs = r.i32s()
    const dataLengths = readCounts(r, s)
    const data = r.f64s()
    const indexLengths = readCounts(r, s)
    const indexes = r.i32s()
    const windowCounts = readCounts(r, s)
    const windowAt = r.u32s()
    const windowSpan = r.f64s(windowAt.length)
    let d = 0
    let e = 0
    let i = 0
    let x = 0
    for (const c of s.chains) {
      const n = lists[c.idx] as number
      const dn = CREDIT_DIR * n
      const en = dataLengths[c.idx] as number
      const iN = indexLengths[c.idx] as number
      if (d + dn > dirs.length || e + en > data.length || i + iN > indexes.length) throw new SnapshotError('snapshot: credit books do not add up')
      let windows: Map<number, Map<number, FundingWindow>> | null = null
      for (let end = x + (windowCounts[c.idx] as number); x < end; x++) {
        const id = windowAt[2 * x] as number
        let list = (windows ??= new Map()).get(id)
        if (list === undefined) windows.set(id, list = new Map())
        list.set(windowAt[2 * x + 1] as number, { from: windowSpan[2 * x] as number, until: windowSpan[2 * x + 1] as number })
      }
      if (n > 0) {
        c.credits.adopt({
          lists: n,
          dir: dirs.slice(d, d + dn),
          data: data.slice(e, e + en),
          index: iN === 0 ? null : indexes.slice(i, i + iN),
          windows
        })
      } else if (windows !== null || dn !== 0 || en !== 0 || iN !== 0) {
        throw new SnapshotError('snapshot: credit books do not add up')
      }
      d += dn
      e += en
      i += iN
    }
    if (d !== dirs.length || e !== data.length || i !== indexes.length || 2 * x !== windowAt.length) throw new SnapshotError('snapshot: credit books do not add up')
  }
}

/** Registrations: bodies once each (a producer's two registrations share theirs), then the entries. */
const registrations: Section = {
  name: 'registrations',
  write (w, { p }) {
    const idxOf = (key: Uint8Array): number => {
      const c = p.chains.find(x => bytesEqual(x.key, key))
      if (c === undefined) throw new RangeError('snapshot: a registered key has no chain')
      return c.idx
    }
    const bodies = new Map<RegisterBody, number>()
    for (const list of p.registrations.values()) for (const r of list) if (!bodies.has(r.body)) bodies.set(r.body, bodies.size)
    w.u32(bodies.size)
    for (const body of bodies.keys()) {
      w.u8(BODY_ROLES.indexOf(body.role))
      w.str(body.label)
      if (body.role === 'producer') {
        w.u32(idxOf(body.account)); w.u32(idxOf(body.meter)); w.f64(body.capacityW)
      } else if (body.role === 'consumer') {
        w.u32(idxOf(body.meter)); w.u8(DEVICE_CATEGORIES.indexOf(body.category))
        w.u8(body.position === null ? 0 : 1); w.f64(body.position?.[0] ?? 0); w.f64(body.position?.[1] ?? 0)
      } else {
        w.u32(idxOf(body.account))
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
  },
  read (r, s) {
    const keyOf = (idx: number): Uint8Array => chainAt(s, idx).key.slice()
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
    for (let i = r.u32(); i > 0; i--) {
      const idx = r.u32()
      const list: Registration[] = []
      for (let j = r.u32(); j > 0; j--) {
        const role = ROLES[r.u8()]
        const registrar = r.u32()
        const seq = int(r.f64())
        const ts = r.f64()
        const body = bodies[r.u32()]
        const id = r.bytes(32).slice()
        if (role === undefined || body === undefined) throw new SnapshotError('snapshot: registration')
        list.push({ role, registrar, seq, id, ts, body })
      }
      s.parts.registrations.set(idx, list)
    }
  }
}

/**
 * Accepted receipts and their settlements: the store's columns by slot, its payment id index with the
 * seed that placed it, and each oracle chain's slots and settlements by seq, as they are.
 */
const receipts: Section = {
  name: 'receipts',
  write (w, { p }) {
    const x = p.receipts.image()
    w.u32(x.seed >>> 0)
    w.i32s(x.payer)
    w.i32s(x.payee)
    w.u8s(x.contract)
    w.f64s(x.amount)
    w.f64s(x.price)
    w.f64s(x.position)
    w.i32s(x.nextSame)
    w.u8s(x.paymentId.map(id => id === undefined ? 0 : 1))
    for (const id of x.paymentId) if (id !== undefined) w.str(id)
    w.u32s(x.free)
    w.i32s(x.byId)
    w.u32(x.ids)
    w.u32s(x.oracles.map(o => o.oracle))
    w.u32s(x.oracles.map(o => o.slot.length))
    w.i32Parts(x.oracles.map(o => o.slot))
    w.u32s(x.oracles.map(o => o.settledBy.length))
    w.i32Parts(x.oracles.map(o => o.settledBy))
    w.u32s(x.settledCount.map(([seller]) => seller))
    w.f64s(x.settledCount.map(([, count]) => count))
  },
  read (r, s) {
    const seed = r.u32() | 0
    const payer = r.i32s().slice()
    const n = payer.length
    const payee = r.i32s(n).slice()
    const contract = r.u8s(n).slice()
    const amount = r.f64s(n).slice()
    const price = r.f64s(n).slice()
    const position = r.f64s(n).slice()
    const nextSame = r.i32s(n).slice()
    const present = r.u8s(n)
    const paymentId: Array<string | undefined> = new Array(n)
    for (let slot = 0; slot < n; slot++) {
      if (present[slot] === 0) continue
      if (CONTRACTS[contract[slot] as number] === undefined) throw new SnapshotError('snapshot: receipt contract')
      paymentId[slot] = r.str()
    }
    const free = Array.from(r.u32s())
    const byId = r.i32s().slice()
    const ids = r.u32()
    const oracles = r.u32s()
    const slotLengths = r.u32s(oracles.length)
    const slots = r.i32s()
    const settledLengths = r.u32s(oracles.length)
    const settledBy = r.i32s()
    let a = 0
    let b = 0
    const bySeq = Array.from(oracles, (oracle, i) => {
      chainAt(s, oracle)
      const m = slotLengths[i] as number
      const k = settledLengths[i] as number
      if (a + m > slots.length || b + k > settledBy.length) throw new SnapshotError('snapshot: receipts do not add up')
      const out = { oracle, slot: slots.slice(a, a + m), settledBy: settledBy.slice(b, b + k) }
      a += m
      b += k
      return out
    })
    if (a !== slots.length || b !== settledBy.length) throw new SnapshotError('snapshot: receipts do not add up')
    const sellers = r.u32s()
    const counts = r.f64s(sellers.length)
    s.parts.receipts.adopt({
      seed, payer, payee, contract, amount, price, position, nextSame, paymentId, free, byId, ids, oracles: bySeq,
      settledCount: Array.from(sellers, (seller, i) => [chainAt(s, seller).idx, counts[i] as number] as const)
    })
  }
}

/** Facts of the op set: keys registered as devices, unfreezes applied, forks seen. */
const facts: Section = {
  name: 'facts',
  write (w, { p }) {
    w.u32s([...p.devices])
    const pardons = [...p.pardons]
    w.u32(pardons.length)
    for (const [slot, count] of pardons) { w.str(slot); w.f64(count) }
    w.u32(p.equivocations.size)
    for (const e of p.equivocations.values()) {
      w.str(e.author); w.f64(e.seq); w.u32(e.ids.length)
      for (const id of e.ids) w.str(id)
    }
  },
  read (r, s) {
    for (const idx of r.u32s()) s.parts.devices.add(idx)
    for (let i = r.u32(); i > 0; i--) s.parts.pardons.set(r.str(), int(r.f64()))
    for (let i = r.u32(); i > 0; i--) {
      const e: Equivocation = { author: r.str(), seq: int(r.f64()), ids: [] }
      for (let j = r.u32(); j > 0; j--) e.ids.push(r.str())
      s.parts.equivocations.push(e)
    }
  }
}

/** The chain index of every decided op in the order decided (seqs follow from it). */
const order: Section = {
  name: 'order',
  write (w, { p }) { w.u32s(p.order) },
  read (r, s) { s.parts.order = r.u32s() }
}

/** In order: `Snapshot.open` reads the first three (what `opKeys` needs), `restore` the rest. */
const OPENING: readonly Section[] = [meta, chains, held]
const SECTIONS: readonly Section[] = [...OPENING, frontiers, prices, funds, credits, registrations, receipts, settled, facts, order]

// ---------------------------------------------------------------------------------------------------
// Encoding

/** Everything `state` holds, as snapshot bytes (see the layout above). */
export function encodeSnapshot (state: LedgerState, options: EncodeSnapshotOptions = {}): Uint8Array {
  const p = state.parts()
  let ops = 0
  for (const c of p.chains) ops += c.length
  // Sized from the state up front, so the buffer seldom grows.
  const w = new Writer(HEADER + (1 << 16) + p.chains.length * 256 + ops * 64)
  w.pos = HEADER
  const stringsAt = w.pos
  w.f64(0) // where the string table starts: it is written last
  const writing: Writing = { p, gridId: state.gridId, journal: options.journal ?? 0 }
  for (const section of SECTIONS) section.write(w, writing)
  w.u32(END)
  w.align(8)
  w.view.setFloat64(stringsAt, w.pos - HEADER, HOST_LE)
  w.u32s(w.strings.map(utf8Length))
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
  readonly format = SNAPSHOT_FORMAT
  readonly gridId: OpId
  readonly journal: number
  /** Storage keys (`opKey`) of the pending and frozen ops the state holds: `restore` asks for each. */
  readonly opKeys: string[][]
  readonly byteLength: number
  readonly #r: Reader
  readonly #reading: Reading
  #used = false

  private constructor (r: Reader, reading: Reading, byteLength: number) {
    this.#r = r
    this.#reading = reading
    this.gridId = reading.gridId
    this.journal = reading.journal
    this.opKeys = reading.held
    this.byteLength = byteLength
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
    const reading: Reading = {
      gridId: new Uint8Array(32),
      journal: 0,
      chains: [],
      held: [],
      parts: { registrations: new Map(), receipts: new ReceiptStore(), devices: new Set(), pardons: new Map(), equivocations: [], voids: [], order: new Uint32Array(0), minted: 0, burned: 0 }
    }
    try {
      r.strings(r.f64())
      for (const section of OPENING) section.read(r, reading)
      return new Snapshot(r, reading, bytes.length)
    } catch (err) {
      throw err instanceof SnapshotError ? err : new SnapshotError(`snapshot: ${(err as Error).message}`)
    }
  }

  /**
   * The state the snapshot holds, for `genesis`; pending and frozen ops come from `options.opAt` and
   * are added again. Throws `SnapshotError` if the snapshot is of another grid, an op it lists is not
   * given, or its contents do not add up. A snapshot restores once.
   */
  restore (genesis: DecodedOp, options: RestoreOptions = {}): LedgerState {
    if (this.#used) throw new SnapshotError('snapshot: already restored')
    this.#used = true
    if (!bytesEqual(genesis.id, this.gridId)) throw new SnapshotError('snapshot: of another grid')
    const r = this.#r
    const s = this.#reading
    let state: LedgerState
    try {
      for (const section of SECTIONS.slice(OPENING.length)) section.read(r, s)
      if (r.u32() !== END || r.stringsLeft !== 0) throw new SnapshotError('snapshot: does not end where it should')
      state = LedgerState.restore(genesis, { ...s.parts, chains: s.chains }, { maxPending: options.maxPending })
    } catch (err) {
      throw err instanceof SnapshotError ? err : new SnapshotError(`snapshot: ${(err as Error).message}`)
    }
    for (const key of s.held) {
      const d = options.opAt?.(key)
      if (d === undefined) throw new SnapshotError(`snapshot: the op ${key.join('/')} is not available`)
      if (toHex(d.id) !== key[3] || toHex(d.op.author) !== key[1]) throw new SnapshotError(`snapshot: another op was given for ${key.join('/')}`)
      state.add(d)
    }
    return state
  }
}

/** The state a snapshot holds (see `Snapshot.open` and `Snapshot.restore`). Throws `SnapshotError`. */
export function decodeSnapshot (genesis: DecodedOp, bytes: Uint8Array, options: RestoreOptions = {}): LedgerState {
  return Snapshot.open(bytes).restore(genesis, options)
}
