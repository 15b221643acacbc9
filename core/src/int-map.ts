/**
 * Small maps and sets of chain indices, each in one Int32Array: entries in insertion order, with an
 * open-addressing index once there are more than a few. Every chain keeps two (its frontier, its
 * creditors), a hundred thousand entries or more at a million ops: a Map or Set per chain costs
 * several times the integers it holds, and is slow to rebuild from a snapshot.
 *
 * Layout: [count, keys × capacity, values × capacity (maps only), index × table (past LINEAR keys)].
 */
const LINEAR = 8

/** A table's contents as its buffer (see `image`). */
export interface IntTableImage {
  readonly buf: Int32Array<ArrayBuffer> | null
  readonly capacity: number
}

/** An `IntMap` to read, and to image for a snapshot. */
export interface ReadonlyIntMap extends ReadonlyMap<number, number> {
  image: () => IntTableImage
}

/** An `IntSet` to read, and to image for a snapshot. */
export interface ReadonlyIntSet extends ReadonlySet<number> {
  image: () => IntTableImage
}

/** How many numbers the buffer of a table of `capacity` holds (`width` 2 for a map, 1 for a set). */
export function tableLength (width: 1 | 2, capacity: number): number {
  return capacity === 0 ? 0 : 1 + width * capacity + tableFor(capacity)
}

function hashIdx (x: number): number {
  const h = Math.imul(x ^ (x >>> 16), 0x45d9f3b)
  return (h ^ (h >>> 16)) >>> 0
}

function tableFor (capacity: number): number {
  if (capacity <= LINEAR) return 0
  let size = 16
  while (size < 2 * capacity) size *= 2
  return size
}

class IntTable {
  protected buf: Int32Array<ArrayBuffer> | null = null
  protected capacity = 0
  protected table = 0
  readonly #width: number

  constructor (width: 1 | 2) {
    this.#width = width
  }

  get size (): number {
    return this.buf === null ? 0 : this.buf[0] as number
  }

  /** The position (0 to size − 1) of `key`, or -1. */
  protected find (key: number): number {
    const buf = this.buf
    if (buf === null) return -1
    const n = buf[0] as number
    if (this.table === 0) {
      for (let i = 0; i < n; i++) if (buf[1 + i] === key) return i
      return -1
    }
    const base = 1 + this.#width * this.capacity
    const mask = this.table - 1
    for (let i = hashIdx(key) & mask; ; i = (i + 1) & mask) {
      const v = buf[base + i] as number
      if (v === 0) return -1
      if (buf[v] === key) return v - 1
    }
  }

  /** Appends `key` (not present), growing as needed; returns its position. */
  protected append (key: number): number {
    if (key !== (key | 0)) throw new RangeError(`${key} is not a 32-bit integer`)
    const n = this.size
    if (n === this.capacity) this.reserve(Math.max(4, n + 1 + (n >>> 1)))
    const buf = this.buf as Int32Array
    buf[1 + n] = key
    buf[0] = n + 1
    if (this.table > 0) this.#place(n)
    return n
  }

  /** Room for `capacity` entries. */
  reserve (capacity: number): void {
    if (capacity <= this.capacity) return
    const n = this.size
    const table = tableFor(capacity)
    const buf = new Int32Array(1 + this.#width * capacity + table)
    if (this.buf !== null) {
      buf[0] = n
      buf.set(this.buf.subarray(1, 1 + n), 1)
      if (this.#width === 2) buf.set(this.buf.subarray(1 + this.capacity, 1 + this.capacity + n), 1 + capacity)
    }
    this.buf = buf
    this.capacity = capacity
    this.table = table
    if (table > 0) for (let i = 0; i < n; i++) this.#place(i)
  }

  #place (position: number): void {
    const buf = this.buf as Int32Array
    const base = 1 + this.#width * this.capacity
    const mask = this.table - 1
    let i = hashIdx(buf[1 + position] as number) & mask
    while (buf[base + i] !== 0) i = (i + 1) & mask
    buf[base + i] = position + 1
  }

  /** Its whole buffer (count, keys, values, index; null when empty) and capacity: what a snapshot keeps. */
  image (): IntTableImage {
    return { buf: this.buf, capacity: this.capacity }
  }

  /** Takes `buf` (an `image()`'s, its own copy) as its contents. */
  adopt (buf: Int32Array<ArrayBuffer> | null, capacity: number): void {
    if (buf === null || capacity === 0) {
      if (buf !== null && buf.length !== 0) throw new RangeError('an empty table with contents')
      this.clear()
      return
    }
    const table = tableFor(capacity)
    if (buf.length !== tableLength(this.#width as 1 | 2, capacity) || !((buf[0] as number) >= 0 && (buf[0] as number) <= capacity)) throw new RangeError('not a table of this shape')
    this.buf = buf
    this.capacity = capacity
    this.table = table
  }

  clear (): void {
    this.buf = null
    this.capacity = 0
    this.table = 0
  }

  protected keyAt (position: number): number {
    return (this.buf as Int32Array)[1 + position] as number
  }

  protected valueAt (position: number): number {
    return (this.buf as Int32Array)[1 + this.capacity + position] as number
  }

  protected setValueAt (position: number, value: number): void {
    if (value !== (value | 0)) throw new RangeError(`${value} is not a 32-bit integer`)
    ;(this.buf as Int32Array)[1 + this.capacity + position] = value
  }
}

/** Chain index -> an integer (a seq), in insertion order. */
export class IntMap extends IntTable implements ReadonlyIntMap {
  constructor () {
    super(2)
  }

  get (key: number): number | undefined {
    const at = this.find(key)
    return at < 0 ? undefined : this.valueAt(at)
  }

  has (key: number): boolean {
    return this.find(key) >= 0
  }

  set (key: number, value: number): this {
    let at = this.find(key)
    if (at < 0) at = this.append(key)
    this.setValueAt(at, value)
    return this
  }

  * keys (): MapIterator<number> {
    for (let i = 0; i < this.size; i++) yield this.keyAt(i)
  }

  * values (): MapIterator<number> {
    for (let i = 0; i < this.size; i++) yield this.valueAt(i)
  }

  * entries (): MapIterator<[number, number]> {
    for (let i = 0; i < this.size; i++) yield [this.keyAt(i), this.valueAt(i)]
  }

  [Symbol.iterator] (): MapIterator<[number, number]> {
    return this.entries()
  }

  forEach (fn: (value: number, key: number, map: ReadonlyMap<number, number>) => void, thisArg?: unknown): void {
    for (const [k, v] of this.entries()) fn.call(thisArg, v, k, this)
  }
}

/** A set of chain indices, in insertion order. */
export class IntSet extends IntTable implements ReadonlyIntSet {
  constructor () {
    super(1)
  }

  has (key: number): boolean {
    return this.find(key) >= 0
  }

  add (key: number): this {
    if (this.find(key) < 0) this.append(key)
    return this
  }

  * keys (): SetIterator<number> {
    for (let i = 0; i < this.size; i++) yield this.keyAt(i)
  }

  values (): SetIterator<number> {
    return this.keys()
  }

  * entries (): SetIterator<[number, number]> {
    for (let i = 0; i < this.size; i++) yield [this.keyAt(i), this.keyAt(i)]
  }

  [Symbol.iterator] (): SetIterator<number> {
    return this.keys()
  }

  forEach (fn: (value: number, key: number, set: ReadonlySet<number>) => void, thisArg?: unknown): void {
    for (const k of this.keys()) fn.call(thisArg, k, k, this)
  }
}
