/**
 * Credits: what one chain gave another, indexed so that a debit's cover is one binary search per dep,
 * and a consumer device's funding, kept by funder and funding window.
 *
 * A chain's credits to one account are a list in seq order (seq, running total), so the credits inside
 * a frontier are a prefix. A device's credits become `DeviceFunds`: general funds per funder (burned
 * oldest funder first, never returned) and windows (burned only inside them, earliest end first; what
 * is left when the device's chain passes a window's end goes back to its funder).
 */
import type { FundingWindow } from '@microgrid/protocol'

/**
 * The credits one chain gave one account, as the chain's `CreditBook` lends them: (seq, running total)
 * pairs (a view of the book, current until the next credit), and the windows of those that have one.
 */
export interface CreditList {
  readonly entries: Float64Array
  /** Funding windows of the credits that have one, by entry index. */
  readonly windows: ReadonlyMap<number, FundingWindow> | null
}

/** How many credits of a list have a seq ≤ `seq` (binary search over the seqs, every second number). */
export function creditsUpTo (entries: ArrayLike<number>, seq: number): number {
  let lo = 0
  let hi = entries.length / 2
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if ((entries[2 * mid] as number) <= seq) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** The amount of the list's i-th credit. */
export function creditAmount (entries: ArrayLike<number>, i: number): number {
  return (entries[2 * i + 1] as number) - (i > 0 ? entries[2 * i - 1] as number : 0)
}

/** The sum of credits i..end-1. */
export function creditSum (entries: ArrayLike<number>, i: number, end: number): number {
  if (i >= end) return 0
  return (entries[2 * end - 1] as number) - (i > 0 ? entries[2 * i - 1] as number : 0)
}

/** Numbers per list in `CreditBook`'s directory: credited account, start in the arena, credits, room. */
export const CREDIT_DIR = 4

/** A `CreditBook` to read, and to image for a snapshot. */
export interface ReadonlyCreditBook extends ReadonlyMap<number, Readonly<CreditList>> {
  image: () => CreditBookImage
}

/** A `CreditBook`'s contents as its arrays (see `CreditBook.image`). */
export interface CreditBookImage {
  readonly lists: number
  readonly dir: Int32Array<ArrayBuffer> | null
  readonly data: Float64Array<ArrayBuffer> | null
  readonly index: Int32Array<ArrayBuffer> | null
  readonly windows: Map<number, Map<number, FundingWindow>> | null
}

/**
 * Every credit one chain gave, as one list per credited account: all lists in one arena of (seq,
 * running total) pairs, with a directory and an index by account. A node holds a list per (giver,
 * account) pair ever — over a hundred thousand at a million ops, most of a few credits — so one array
 * object, map entry and wrapper per list would cost several times the numbers they hold. Reads as a
 * `ReadonlyMap` from the credited account's chain index to its `CreditList`, lists in the order begun.
 * A list that outgrows its room moves to the arena's end; the arena is compacted when half is moved out.
 */
export class CreditBook implements ReadonlyCreditBook {
  #dir: Int32Array<ArrayBuffer> | null = null
  #lists = 0
  #data: Float64Array<ArrayBuffer> | null = null
  /** Numbers of the arena in use (the end of the last block), and in blocks lists moved out of. */
  #used = 0
  #waste = 0
  /** Open addressing by credited account: list id + 1, 0 for empty. */
  #index: Int32Array<ArrayBuffer> | null = null
  /** Funding windows, by list id, then by entry index. */
  #windows: Map<number, Map<number, FundingWindow>> | null = null

  get size (): number {
    return this.#lists
  }

  /** The list id of the credits to `to`, or -1. */
  listOf (to: number): number {
    const index = this.#index
    if (index === null) return -1
    const mask = index.length - 1
    const dir = this.#dir as Int32Array
    for (let i = hashIdx(to) & mask; ; i = (i + 1) & mask) {
      const v = index[i] as number
      if (v === 0) return -1
      if (dir[(v - 1) * CREDIT_DIR] === to) return v - 1
    }
  }

  /** The account list `id` credits (list ids are 0 to size − 1). */
  accountOf (id: number): number {
    return (this.#dir as Int32Array)[id * CREDIT_DIR] as number
  }

  /** How many credits list `id` holds. */
  count (id: number): number {
    return (this.#dir as Int32Array)[id * CREDIT_DIR + 2] as number
  }

  /** How many credits of list `id` have a seq ≤ `seq`. */
  upTo (id: number, seq: number): number {
    const dir = this.#dir as Int32Array
    const data = this.#data as Float64Array
    const start = dir[id * CREDIT_DIR + 1] as number
    let lo = 0
    let hi = dir[id * CREDIT_DIR + 2] as number
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((data[start + 2 * mid] as number) <= seq) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /** The running total of list `id` after its first `n` credits. */
  totalAt (id: number, n: number): number {
    return n === 0 ? 0 : (this.#data as Float64Array)[((this.#dir as Int32Array)[id * CREDIT_DIR + 1] as number) + 2 * n - 1] as number
  }

  /** The sum of credits i..end-1 of list `id`. */
  sum (id: number, i: number, end: number): number {
    return i >= end ? 0 : this.totalAt(id, end) - this.totalAt(id, i)
  }

  /** The amount of list `id`'s i-th credit. */
  amount (id: number, i: number): number {
    return this.totalAt(id, i + 1) - this.totalAt(id, i)
  }

  /** Everything list `id` credited. */
  total (id: number): number {
    return this.totalAt(id, this.count(id))
  }

  /** The funding window of list `id`'s i-th credit, if it has one. */
  window (id: number, i: number): FundingWindow | null {
    return this.#windows?.get(id)?.get(i) ?? null
  }

  /** Records a credit of `wh` to `to` at `seq` (seqs only grow within a list). */
  append (to: number, seq: number, wh: number, window: FundingWindow | null): void {
    let id = this.listOf(to)
    if (id < 0) id = this.#begin(to, 2)
    const dir = this.#dir as Int32Array
    const n = dir[id * CREDIT_DIR + 2] as number
    if (n === dir[id * CREDIT_DIR + 3]) this.#move(id, Math.max(2, 2 * n))
    const data = this.#data as Float64Array
    const at = (dir[id * CREDIT_DIR + 1] as number) + 2 * n
    data[at] = seq
    data[at + 1] = (n > 0 ? data[at - 1] as number : 0) + wh
    dir[id * CREDIT_DIR + 2] = n + 1
    if (window !== null) {
      const windows = this.#windows ??= new Map()
      let w = windows.get(id)
      if (w === undefined) windows.set(id, w = new Map())
      w.set(n, window)
    }
  }

  /**
   * Its lists packed, each with room for the credits it holds (directory, arena, index; null when it
   * holds no list), and windows by (list id, entry index): what a snapshot keeps. A copy, made when asked.
   */
  image (): CreditBookImage {
    const lists = this.#lists
    if (lists === 0) return { lists, dir: null, data: null, index: null, windows: null }
    const from = this.#dir as Int32Array
    const dir = new Int32Array(lists * CREDIT_DIR)
    let size = 0
    for (let id = 0; id < lists; id++) size += 2 * (from[id * CREDIT_DIR + 2] as number)
    const data = new Float64Array(size)
    const old = this.#data as Float64Array
    let at = 0
    for (let id = 0; id < lists; id++) {
      const n = from[id * CREDIT_DIR + 2] as number
      const start = from[id * CREDIT_DIR + 1] as number
      data.set(old.subarray(start, start + 2 * n), at)
      dir[id * CREDIT_DIR] = from[id * CREDIT_DIR] as number
      dir[id * CREDIT_DIR + 1] = at
      dir[id * CREDIT_DIR + 2] = n
      dir[id * CREDIT_DIR + 3] = n
      at += 2 * n
    }
    return { lists, dir, data, index: this.#index, windows: this.#windows }
  }

  /** Takes an `image()`'s arrays (its own copies) as its contents. */
  adopt (image: CreditBookImage): void {
    const { lists, dir, data, index } = image
    if (lists === 0) {
      this.clear()
      return
    }
    if (dir === null || data === null || index === null || dir.length !== lists * CREDIT_DIR || index.length < 2 * lists || (index.length & (index.length - 1)) !== 0) throw new RangeError('not a credit book of this shape')
    for (let id = 0; id < lists; id++) {
      if ((dir[id * CREDIT_DIR + 1] as number) + 2 * (dir[id * CREDIT_DIR + 3] as number) > data.length || (dir[id * CREDIT_DIR + 2] as number) > (dir[id * CREDIT_DIR + 3] as number)) throw new RangeError('a credit list outside its book')
    }
    this.#lists = lists
    this.#dir = dir
    this.#data = data
    this.#used = data.length
    this.#waste = 0
    this.#index = index
    this.#windows = image.windows !== null && image.windows.size > 0 ? image.windows : null
  }

  /** Forgets every credit (the chain is about to be decided again). */
  clear (): void {
    this.#dir = null
    this.#data = null
    this.#index = null
    this.#windows = null
    this.#lists = 0
    this.#used = 0
    this.#waste = 0
  }

  #begin (to: number, room: number): number {
    const id = this.#lists++
    if (this.#dir === null || (id + 1) * CREDIT_DIR > this.#dir.length) {
      const dir = new Int32Array(Math.max(4, id + 1 + (id >>> 1)) * CREDIT_DIR)
      if (this.#dir !== null) dir.set(this.#dir)
      this.#dir = dir
    }
    const dir = this.#dir
    dir[id * CREDIT_DIR] = to
    dir[id * CREDIT_DIR + 1] = this.#claim(2 * room)
    dir[id * CREDIT_DIR + 2] = 0
    dir[id * CREDIT_DIR + 3] = room
    if (this.#index === null || (id + 1) * 2 > this.#index.length) this.#reindex(tableSize(id + 1))
    else this.#place(id)
    return id
  }

  /** Room for `n` more numbers at the arena's end; returns where they start. */
  #claim (n: number): number {
    if (this.#data === null || this.#used + n > this.#data.length) {
      if (this.#data !== null && this.#waste > 0 && this.#waste * 2 >= this.#used) this.#compact()
      if (this.#data === null || this.#used + n > this.#data.length) {
        const data = new Float64Array(Math.max(8, this.#used + n + ((this.#used + n) >>> 1)))
        if (this.#data !== null) data.set(this.#data.subarray(0, this.#used))
        this.#data = data
      }
    }
    const at = this.#used
    this.#used += n
    return at
  }

  /** Moves list `id` to the arena's end with room for `room` credits. */
  #move (id: number, room: number): void {
    const dir = this.#dir as Int32Array
    const n = dir[id * CREDIT_DIR + 2] as number
    const start = this.#claim(2 * room) // may compact: read the list's start after
    const from = dir[id * CREDIT_DIR + 1] as number
    const data = this.#data as Float64Array
    data.copyWithin(start, from, from + 2 * n)
    this.#waste += 2 * (dir[id * CREDIT_DIR + 3] as number)
    dir[id * CREDIT_DIR + 1] = start
    dir[id * CREDIT_DIR + 3] = room
  }

  /** Rewrites the arena with the lists only, each with its room. */
  #compact (): void {
    const dir = this.#dir as Int32Array
    const old = this.#data as Float64Array
    let size = 0
    for (let id = 0; id < this.#lists; id++) size += 2 * (dir[id * CREDIT_DIR + 3] as number)
    const data = new Float64Array(Math.max(8, size + (size >>> 1)))
    let at = 0
    for (let id = 0; id < this.#lists; id++) {
      const from = dir[id * CREDIT_DIR + 1] as number
      data.set(old.subarray(from, from + 2 * (dir[id * CREDIT_DIR + 2] as number)), at)
      dir[id * CREDIT_DIR + 1] = at
      at += 2 * (dir[id * CREDIT_DIR + 3] as number)
    }
    this.#data = data
    this.#used = at
    this.#waste = 0
  }

  #place (id: number): void {
    const index = this.#index as Int32Array
    const mask = index.length - 1
    let i = hashIdx((this.#dir as Int32Array)[id * CREDIT_DIR] as number) & mask
    while (index[i] !== 0) i = (i + 1) & mask
    index[i] = id + 1
  }

  #reindex (size: number): void {
    this.#index = new Int32Array(size)
    for (let id = 0; id < this.#lists; id++) this.#place(id)
  }

  // Reading as a map ----------------------------------------------------------------------------

  #list (id: number): CreditList {
    const dir = this.#dir as Int32Array
    const start = dir[id * CREDIT_DIR + 1] as number
    return { entries: (this.#data as Float64Array).subarray(start, start + 2 * (dir[id * CREDIT_DIR + 2] as number)), windows: this.#windows?.get(id) ?? null }
  }

  get (to: number): CreditList | undefined {
    const id = this.listOf(to)
    return id < 0 ? undefined : this.#list(id)
  }

  has (to: number): boolean {
    return this.listOf(to) >= 0
  }

  * keys (): MapIterator<number> {
    for (let id = 0; id < this.#lists; id++) yield (this.#dir as Int32Array)[id * CREDIT_DIR] as number
  }

  * values (): MapIterator<CreditList> {
    for (let id = 0; id < this.#lists; id++) yield this.#list(id)
  }

  * entries (): MapIterator<[number, CreditList]> {
    for (let id = 0; id < this.#lists; id++) yield [(this.#dir as Int32Array)[id * CREDIT_DIR] as number, this.#list(id)]
  }

  [Symbol.iterator] (): MapIterator<[number, CreditList]> {
    return this.entries()
  }

  forEach (fn: (value: CreditList, key: number, map: ReadonlyMap<number, CreditList>) => void, thisArg?: unknown): void {
    for (const [k, v] of this.entries()) fn.call(thisArg, v, k, this)
  }
}

function hashIdx (x: number): number {
  const h = Math.imul(x ^ (x >>> 16), 0x45d9f3b)
  return (h ^ (h >>> 16)) >>> 0
}

/** A power of two at least twice `n` (at least 4). */
function tableSize (n: number): number {
  let size = 4
  while (size < 2 * n) size *= 2
  return size
}

/** One funding window of a device: `remaining` Wh of `funder`'s, usable from `from` until before `until`. */
export interface WindowFunds {
  funder: number
  from: number
  until: number
  remaining: number
}

/** What one funder put into a device, what of it burned, what came back, and its general funds left. */
export interface FunderAccount {
  put: number
  burned: number
  returned: number
  /** Unwindowed funds of this funder still in the device: burn-only, for good. */
  general: number
}

/** Numbers per funder in `DeviceFunds`' columns: put, burned, returned, general. */
export const FUNDER_COLUMNS = 4

/**
 * A device's funding: an account per funder (what it put in, what of it burned, what came back, its
 * general funds left), kept in columns — a node holds one per (funder, device) pair ever, a hundred
 * thousand at a million ops — and the windows declared and not yet closed.
 */
export class DeviceFunds {
  /** Windows declared and not yet closed, in the order declared. */
  windows: WindowFunds[] = []
  /** Funders (chain indices) in the order each first funded the device, and their accounts. */
  #funder = new Int32Array(2)
  #account = new Float64Array(2 * FUNDER_COLUMNS)
  #n = 0
  /** Open addressing by funder (slot + 1) once there are more than a few. */
  #index: Int32Array<ArrayBuffer> | null = null

  /** Every funder's account by funder, in the order each first funded the device (made when asked). */
  get funders (): ReadonlyMap<number, Readonly<FunderAccount>> {
    const out = new Map<number, FunderAccount>()
    const a = this.#account
    for (let i = 0; i < this.#n; i++) {
      out.set(this.#funder[i] as number, { put: a[i * FUNDER_COLUMNS] as number, burned: a[i * FUNDER_COLUMNS + 1] as number, returned: a[i * FUNDER_COLUMNS + 2] as number, general: a[i * FUNDER_COLUMNS + 3] as number })
    }
    return out
  }

  /** The funders (chain indices), in the order each first funded the device. */
  * funderIds (): IterableIterator<number> {
    for (let i = 0; i < this.#n; i++) yield this.#funder[i] as number
  }

  /** The slot of `funder`'s account, added if new. */
  #slot (funder: number): number {
    const index = this.#index
    if (index !== null) {
      const mask = index.length - 1
      for (let i = hashIdx(funder) & mask; ; i = (i + 1) & mask) {
        const v = index[i] as number
        if (v === 0) break
        if (this.#funder[v - 1] === funder) return v - 1
      }
    } else {
      for (let i = 0; i < this.#n; i++) if (this.#funder[i] === funder) return i
    }
    return this.#add(funder)
  }

  #add (funder: number): number {
    const slot = this.#n++
    if (slot >= this.#funder.length) {
      const size = slot + 1 + (slot >>> 1)
      const ids = new Int32Array(size)
      ids.set(this.#funder)
      this.#funder = ids
      const account = new Float64Array(size * FUNDER_COLUMNS)
      account.set(this.#account)
      this.#account = account
    }
    this.#funder[slot] = funder
    if (this.#index !== null && (slot + 1) * 2 > this.#index.length) this.#reindex()
    else if (this.#index !== null) this.#place(slot)
    else if (this.#n > 8) this.#reindex()
    return slot
  }

  #place (slot: number): void {
    const index = this.#index as Int32Array
    const mask = index.length - 1
    let i = hashIdx(this.#funder[slot] as number) & mask
    while (index[i] !== 0) i = (i + 1) & mask
    index[i] = slot + 1
  }

  #reindex (): void {
    this.#index = new Int32Array(tableSize(this.#n))
    for (let slot = 0; slot < this.#n; slot++) this.#place(slot)
  }

  /** Adds `wh` to column `column` (put, burned, returned, general) of the account in `slot`. */
  #addTo (slot: number, column: number, wh: number): void {
    const a = this.#account
    a[slot * FUNDER_COLUMNS + column] = (a[slot * FUNDER_COLUMNS + column] as number) + wh
  }

  /** Its columns up to its funders (and their index, if it has one): what a snapshot keeps. */
  image (): { funder: Int32Array<ArrayBuffer>, account: Float64Array<ArrayBuffer>, index: Int32Array<ArrayBuffer> | null } {
    return { funder: this.#funder.subarray(0, this.#n), account: this.#account.subarray(0, this.#n * FUNDER_COLUMNS), index: this.#index }
  }

  /** Takes an `image()`'s columns (its own copies) and the windows as its contents. */
  adopt (funder: Int32Array<ArrayBuffer>, account: Float64Array<ArrayBuffer>, index: Int32Array<ArrayBuffer> | null, windows: WindowFunds[]): void {
    const n = funder.length
    if (account.length !== n * FUNDER_COLUMNS || (index !== null && (index.length < 2 * n || (index.length & (index.length - 1)) !== 0)) || (index === null && n > 8)) throw new RangeError('not device funds of this shape')
    this.#funder = funder
    this.#account = account
    this.#n = n
    this.#index = index
    this.windows = windows
  }

  declare (funder: number, wh: number, window: FundingWindow | null): void {
    const slot = this.#slot(funder)
    this.#addTo(slot, 0, wh)
    if (window === null) this.#addTo(slot, 3, wh)
    else this.windows.push({ funder, from: window.from, until: window.until, remaining: wh })
  }

  /** Funds a burn dated `t` may draw on: open windows and general funds. */
  usableAt (t: number): number {
    let usable = 0
    const a = this.#account
    for (let i = 0; i < this.#n; i++) usable += a[i * FUNDER_COLUMNS + 3] as number
    for (const w of this.windows) if (w.from <= t && t < w.until) usable += w.remaining
    return usable
  }

  /** Draws `wh` (at most `usableAt(t)`): open windows first, earliest end first, then general funds, oldest funder first. */
  draw (t: number, wh: number): void {
    let left = wh
    const open = this.windows.filter(w => w.from <= t && t < w.until && w.remaining > 0)
    open.sort((x, y) => x.until - y.until || x.from - y.from || x.funder - y.funder)
    for (const w of open) {
      if (left === 0) break
      const take = Math.min(w.remaining, left)
      w.remaining -= take
      this.#addTo(this.#slot(w.funder), 1, take)
      left -= take
    }
    const a = this.#account
    for (let i = 0; i < this.#n && left > 0; i++) {
      const take = Math.min(a[i * FUNDER_COLUMNS + 3] as number, left)
      a[i * FUNDER_COLUMNS + 3] = (a[i * FUNDER_COLUMNS + 3] as number) - take
      a[i * FUNDER_COLUMNS + 1] = (a[i * FUNDER_COLUMNS + 1] as number) + take
      left -= take
    }
    if (left > 0) throw new RangeError(`draw: ${left} Wh more than usable`)
    this.windows = this.windows.filter(w => w.remaining > 0)
  }

  /**
   * Closes every window that ended at or before `t` (the device's chain has passed it): returns what
   * each funder gets back, in the order the windows were declared.
   */
  close (t: number): Array<[funder: number, wh: number]> {
    let refunds: Array<[number, number]> | undefined
    const kept: WindowFunds[] = []
    for (const w of this.windows) {
      if (w.until > t) { kept.push(w); continue }
      if (w.remaining > 0) {
        (refunds ??= []).push([w.funder, w.remaining])
        this.#addTo(this.#slot(w.funder), 2, w.remaining)
      }
    }
    if (refunds === undefined && kept.length === this.windows.length) return []
    this.windows = kept
    return refunds ?? []
  }

  /** The earliest end among open or upcoming windows, or +∞. */
  nextClose (): number {
    let t = Number.POSITIVE_INFINITY
    for (const w of this.windows) if (w.until < t) t = w.until
    return t
  }
}
