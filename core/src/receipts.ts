/**
 * Receipts are keyed by position (oracle chain index × 2^32 + seq: one number instead of a string),
 * and indexed by payment id, so a receipt or a sale can ask whether a payment id is in its past.
 *
 * A node holds a receipt per payment ever made, so they are kept in columns (payer, payee, contract,
 * amount, price, payment id: a few dozen bytes each) rather than as one object and a few map entries
 * per receipt; a `Receipt` object is made when one is asked for. Settlements are kept by position in
 * the same way: which seller settled the receipt there.
 */
import type { Receipt } from './contracts/view.ts'
import type { SaleContract } from '@microgrid/protocol'

export const RECEIPT_SPAN = 2 ** 32

export function receiptPosition (oracle: number, seq: number): number {
  return oracle * RECEIPT_SPAN + seq
}

export function positionChain (position: number): number {
  return Math.floor(position / RECEIPT_SPAN)
}

export function positionSeq (position: number): number {
  return position % RECEIPT_SPAN
}

/** The sale contracts, as receipts and snapshots number them. */
export const SALE_CONTRACTS: readonly SaleContract[] = ['wholesale-seller', 'retail-seller']
const CONTRACTS = SALE_CONTRACTS
/** A random seed for a store's payment id index (ids are chosen by payers: their hashes must not be). */
function randomSeed (): number {
  return (globalThis.crypto?.getRandomValues(new Uint32Array(1))[0] ?? (Math.random() * 2 ** 32)) | 0
}

/** Seeded FNV-1a over the string's code units. */
function hashString (s: string, seed: number): number {
  let h = seed ^ 0x811c9dc5
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  h ^= h >>> 15
  return Math.imul(h, 0x2c1b3c6d) >>> 0
}

function grown<T extends Int32Array | Float64Array | Uint8Array> (a: T, size: number): T {
  if (size <= a.length) return a
  const b = new (a.constructor as new (n: number) => T)(Math.max(size, a.length + (a.length >>> 1), 16))
  b.set(a)
  return b
}

/** A `ReceiptStore`'s contents as its arrays (see `ReceiptStore.image`). */
export interface ReceiptStoreImage {
  readonly seed: number
  readonly payer: Int32Array<ArrayBuffer>
  readonly payee: Int32Array<ArrayBuffer>
  readonly contract: Uint8Array<ArrayBuffer>
  readonly amount: Float64Array<ArrayBuffer>
  readonly price: Float64Array<ArrayBuffer>
  readonly position: Float64Array<ArrayBuffer>
  readonly nextSame: Int32Array<ArrayBuffer>
  /** By slot: undefined for a free one. */
  readonly paymentId: Array<string | undefined>
  readonly free: number[]
  readonly byId: Int32Array<ArrayBuffer>
  readonly ids: number
  readonly oracles: ReadonlyArray<{ oracle: number, slot: Int32Array<ArrayBuffer>, settledBy: Int32Array<ArrayBuffer> }>
  readonly settledCount: ReadonlyArray<readonly [seller: number, count: number]>
}

/** Per oracle chain, by seq: a slot + 1 (0 for none), or a settling seller's chain index + 1. */
class BySeq {
  slot = new Int32Array(0)
  settledBy = new Int32Array(0)
}

/**
 * The accepted receipts, by position, with their payment id index and who settled each. Reads as a
 * `ReadonlyMap` from position to `Receipt`, in position order (oracle chain, then seq).
 */
export class ReceiptStore implements ReadonlyMap<number, Receipt> {
  // Columns, by slot.
  #payer = new Int32Array(16)
  #payee = new Int32Array(16)
  #contract = new Uint8Array(16)
  #amount = new Float64Array(16)
  /** NaN for no price. */
  #price = new Float64Array(16)
  #position = new Float64Array(16)
  /** The next slot of the same payment id, or -1. */
  #nextSame = new Int32Array(16)
  #paymentId: Array<string | undefined> = []
  #free: number[] = []
  #slots = 0
  #size = 0
  /** Oracle chains with receipts, by chain index. */
  readonly #oracles = new Map<number, BySeq>()
  /** Open addressing by payment id: the first slot of each id + 1, 0 for empty. */
  #byId = new Int32Array(64)
  #seed = randomSeed()
  #ids = 0
  #settled = 0
  /** How many receipts each seller settled (by chain index). */
  readonly #settledCount = new Map<number, number>()

  get size (): number {
    return this.#size
  }

  /** How many receipts a sale settled. */
  get settledCount (): number {
    return this.#settled
  }

  #slotOf (position: number): number {
    const o = this.#oracles.get(positionChain(position))
    if (o === undefined) return -1
    const seq = positionSeq(position)
    return seq < o.slot.length ? (o.slot[seq] as number) - 1 : -1
  }

  #bySeq (oracle: number): BySeq {
    let o = this.#oracles.get(oracle)
    if (o === undefined) this.#oracles.set(oracle, o = new BySeq())
    return o
  }

  has (position: number): boolean {
    return this.#slotOf(position) >= 0
  }

  get (position: number): Receipt | undefined {
    const slot = this.#slotOf(position)
    return slot < 0 ? undefined : this.#receipt(slot)
  }

  #receipt (slot: number): Receipt {
    const price = this.#price[slot] as number
    return {
      payer: this.#payer[slot] as number,
      payee: this.#payee[slot] as number,
      contract: CONTRACTS[this.#contract[slot] as number] as SaleContract,
      amount: this.#amount[slot] as number,
      paymentId: this.#paymentId[slot] as string,
      price: Number.isNaN(price) ? null : price
    }
  }

  /** The payment id of the receipt at `position`, without making a `Receipt`. */
  paymentIdAt (position: number): string | undefined {
    const slot = this.#slotOf(position)
    return slot < 0 ? undefined : this.#paymentId[slot]
  }

  /** Adds (or replaces) the receipt at `position`. */
  set (position: number, r: Receipt): this {
    const contract = CONTRACTS.indexOf(r.contract)
    if (contract < 0) throw new RangeError(`a receipt for ${r.contract}`)
    this.add(position, r.payer, r.payee, contract, r.amount, r.price, r.paymentId)
    return this
  }

  /** Its columns up to the last slot used, its index with the seed that placed it, and settlements: what a snapshot keeps. */
  image (): ReceiptStoreImage {
    const n = this.#slots
    return {
      seed: this.#seed,
      payer: this.#payer.subarray(0, n),
      payee: this.#payee.subarray(0, n),
      contract: this.#contract.subarray(0, n),
      amount: this.#amount.subarray(0, n),
      price: this.#price.subarray(0, n),
      position: this.#position.subarray(0, n),
      nextSame: this.#nextSame.subarray(0, n),
      paymentId: this.#paymentId.slice(0, n),
      free: this.#free,
      byId: this.#byId,
      ids: this.#ids,
      oracles: [...this.#oracles].map(([oracle, o]) => ({ oracle, slot: o.slot, settledBy: o.settledBy })),
      settledCount: [...this.#settledCount]
    }
  }

  /** Takes an `image()`'s arrays (its own copies) as its contents, replacing what it held. */
  adopt (image: ReceiptStoreImage): void {
    const n = image.payer.length
    const { byId, free, paymentId } = image
    let missing = 0
    for (let slot = 0; slot < n; slot++) if (paymentId[slot] === undefined) missing++
    if (image.payee.length !== n || image.contract.length !== n || image.amount.length !== n || image.price.length !== n ||
      image.position.length !== n || image.nextSame.length !== n || paymentId.length !== n || missing !== free.length ||
      free.some(slot => !(slot >= 0 && slot < n) || paymentId[slot] !== undefined) ||
      (byId.length & (byId.length - 1)) !== 0 || byId.length < 2 * image.ids || image.ids > n) {
      throw new RangeError('not a receipt store of this shape')
    }
    this.#seed = image.seed
    this.#payer = image.payer
    this.#payee = image.payee
    this.#contract = image.contract
    this.#amount = image.amount
    this.#price = image.price
    this.#position = image.position
    this.#nextSame = image.nextSame
    this.#paymentId = paymentId
    this.#free = free
    this.#slots = n
    this.#size = n - free.length
    this.#byId = byId
    this.#ids = image.ids
    this.#oracles.clear()
    for (const { oracle, slot, settledBy } of image.oracles) {
      const o = new BySeq()
      o.slot = slot
      o.settledBy = settledBy
      this.#oracles.set(oracle, o)
    }
    this.#settledCount.clear()
    this.#settled = 0
    for (const [seller, count] of image.settledCount) {
      this.#settledCount.set(seller, count)
      this.#settled += count
    }
  }

  /** Room for `n` receipts in every column. */
  #growColumns (n: number): void {
    this.#payer = grown(this.#payer, n)
    this.#payee = grown(this.#payee, n)
    this.#contract = grown(this.#contract, n)
    this.#amount = grown(this.#amount, n)
    this.#price = grown(this.#price, n)
    this.#position = grown(this.#position, n)
    this.#nextSame = grown(this.#nextSame, n)
  }

  /** Adds (or replaces) the receipt at `position`, given its fields (`contract` as an index of the sale contracts). */
  add (position: number, payer: number, payee: number, contract: number, amount: number, price: number | null, paymentId: string): void {
    if (this.#slotOf(position) >= 0) this.delete(position)
    const slot = this.#free.length > 0 ? this.#free.pop() as number : this.#slots++
    if (slot >= this.#payer.length) this.#growColumns(slot + 1)
    this.#payer[slot] = payer
    this.#payee[slot] = payee
    this.#contract[slot] = contract
    this.#amount[slot] = amount
    this.#price[slot] = price ?? Number.NaN
    this.#position[slot] = position
    this.#paymentId[slot] = paymentId
    const o = this.#bySeq(positionChain(position))
    const seq = positionSeq(position)
    if (seq >= o.slot.length) {
      o.slot = grown(o.slot, seq + 1)
      o.settledBy = grown(o.settledBy, seq + 1)
    }
    o.slot[seq] = slot + 1
    this.#size++
    this.#index(slot)
  }

  delete (position: number): boolean {
    const slot = this.#slotOf(position)
    if (slot < 0) return false
    this.#unindex(slot)
    const o = this.#oracles.get(positionChain(position)) as BySeq
    o.slot[positionSeq(position)] = 0
    this.#paymentId[slot] = undefined
    this.#free.push(slot)
    this.#size--
    return true
  }

  // Payment id index ----------------------------------------------------------------------------

  /** The table index holding `paymentId`'s first slot, or the empty one where it would go. */
  #find (paymentId: string): number {
    const table = this.#byId
    const mask = table.length - 1
    for (let i = hashString(paymentId, this.#seed) & mask; ; i = (i + 1) & mask) {
      const v = table[i] as number
      if (v === 0 || this.#paymentId[v - 1] === paymentId) return i
    }
  }

  #index (slot: number): void {
    if ((this.#ids + 1) * 2 > this.#byId.length) this.#rehash(this.#byId.length * 2)
    const i = this.#find(this.#paymentId[slot] as string)
    const first = this.#byId[i] as number
    if (first === 0) {
      this.#byId[i] = slot + 1
      this.#nextSame[slot] = -1
      this.#ids++
      return
    }
    // Slots of one payment id are kept in slot order (lowest first).
    let prev = -1
    let at = first - 1
    while (at >= 0 && at < slot) { prev = at; at = this.#nextSame[at] as number }
    this.#nextSame[slot] = at
    if (prev < 0) this.#byId[i] = slot + 1
    else this.#nextSame[prev] = slot
  }

  #unindex (slot: number): void {
    const i = this.#find(this.#paymentId[slot] as string)
    const first = (this.#byId[i] as number) - 1
    if (first === slot) {
      const next = this.#nextSame[slot] as number
      if (next >= 0) { this.#byId[i] = next + 1; return }
      this.#remove(i)
      this.#ids--
      return
    }
    let at = first
    while (at >= 0 && this.#nextSame[at] !== slot) at = this.#nextSame[at] as number
    if (at >= 0) this.#nextSame[at] = this.#nextSame[slot] as number
  }

  /** Removes table entry `i`, moving back the entries after it that it displaced (linear probing). */
  #remove (i: number): void {
    const table = this.#byId
    const mask = table.length - 1
    table[i] = 0
    for (let j = (i + 1) & mask; table[j] !== 0; j = (j + 1) & mask) {
      const v = table[j] as number
      table[j] = 0
      let k = hashString(this.#paymentId[v - 1] as string, this.#seed) & mask
      while (table[k] !== 0) k = (k + 1) & mask
      table[k] = v
    }
  }

  #rehash (size: number): void {
    const old = this.#byId
    this.#byId = new Int32Array(size)
    const mask = size - 1
    for (const v of old) {
      if (v === 0) continue
      let k = hashString(this.#paymentId[v - 1] as string, this.#seed) & mask
      while (this.#byId[k] !== 0) k = (k + 1) & mask
      this.#byId[k] = v
    }
  }

  /** Whether a receipt of `paymentId` at some position satisfies `test`. */
  somePosition (paymentId: string, test: (position: number) => boolean): boolean {
    const v = this.#byId[this.#find(paymentId)] as number
    for (let at = v - 1; at >= 0; at = this.#nextSame[at] as number) if (test(this.#position[at] as number)) return true
    return false
  }

  // Settlements ---------------------------------------------------------------------------------

  /** Records that `seller` settled the receipt at `position`. */
  settle (position: number, seller: number): void {
    const o = this.#bySeq(positionChain(position))
    const seq = positionSeq(position)
    if (seq >= o.settledBy.length) {
      o.slot = grown(o.slot, seq + 1)
      o.settledBy = grown(o.settledBy, seq + 1)
    }
    const before = (o.settledBy[seq] as number) - 1
    if (before === seller) return
    if (before >= 0) this.#count(before, -1)
    else this.#settled++
    o.settledBy[seq] = seller + 1
    this.#count(seller, 1)
  }

  #count (seller: number, delta: number): void {
    const n = (this.#settledCount.get(seller) ?? 0) + delta
    if (n > 0) this.#settledCount.set(seller, n)
    else this.#settledCount.delete(seller)
  }

  /** The seller that settled the receipt at `position` (its chain index), or -1. */
  settledBy (position: number): number {
    const o = this.#oracles.get(positionChain(position))
    const seq = positionSeq(position)
    return o === undefined || seq >= o.settledBy.length ? -1 : (o.settledBy[seq] as number) - 1
  }

  isSettled (position: number): boolean {
    return this.settledBy(position) >= 0
  }

  /** Forgets every settlement by `seller` (its chain is about to be decided again). */
  unsettleAll (seller: number): void {
    if (!this.#settledCount.has(seller)) return
    for (const o of this.#oracles.values()) {
      const by = o.settledBy
      for (let s = 0; s < by.length; s++) if (by[s] === seller + 1) { by[s] = 0; this.#settled-- }
    }
    this.#settledCount.delete(seller)
  }

  /** How many receipts `seller` settled. */
  settledCountOf (seller: number): number {
    return this.#settledCount.get(seller) ?? 0
  }

  /** Positions `seller` settled, in position order. */
  * settledPositions (seller: number): IterableIterator<number> {
    if (!this.#settledCount.has(seller)) return
    for (const oracle of [...this.#oracles.keys()].sort((a, b) => a - b)) {
      const by = (this.#oracles.get(oracle) as BySeq).settledBy
      for (let s = 0; s < by.length; s++) if (by[s] === seller + 1) yield receiptPosition(oracle, s)
    }
  }

  /** Every settlement, by seller (chain index): the positions settled, in position order (one pass). */
  settlementsBySeller (): Map<number, number[]> {
    const out = new Map<number, number[]>()
    for (const oracle of [...this.#oracles.keys()].sort((a, b) => a - b)) {
      const by = (this.#oracles.get(oracle) as BySeq).settledBy
      for (let s = 0; s < by.length; s++) {
        const seller = (by[s] as number) - 1
        if (seller < 0) continue
        let list = out.get(seller)
        if (list === undefined) out.set(seller, list = [])
        list.push(receiptPosition(oracle, s))
      }
    }
    return out
  }

  /** Every receipt's fields, in position order, as columns (for snapshots: no `Receipt` object each). */
  columns (): { oracle: number[], seq: number[], payer: number[], payee: number[], contract: number[], amount: number[], price: Array<number | null>, paymentId: string[] } {
    const out = { oracle: [] as number[], seq: [] as number[], payer: [] as number[], payee: [] as number[], contract: [] as number[], amount: [] as number[], price: [] as Array<number | null>, paymentId: [] as string[] }
    for (const oracle of [...this.#oracles.keys()].sort((a, b) => a - b)) {
      const slots = (this.#oracles.get(oracle) as BySeq).slot
      for (let s = 0; s < slots.length; s++) {
        const slot = (slots[s] as number) - 1
        if (slot < 0) continue
        const price = this.#price[slot] as number
        out.oracle.push(oracle)
        out.seq.push(s)
        out.payer.push(this.#payer[slot] as number)
        out.payee.push(this.#payee[slot] as number)
        out.contract.push(this.#contract[slot] as number)
        out.amount.push(this.#amount[slot] as number)
        out.price.push(Number.isNaN(price) ? null : price)
        out.paymentId.push(this.#paymentId[slot] as string)
      }
    }
    return out
  }

  /** The payment ids `seller` settled, with the position of the receipt each settled: a map to read. */
  settledView (seller: number): SettledIds {
    return new SettledIds(this, seller)
  }

  // Reading as a map ----------------------------------------------------------------------------

  * keys (): MapIterator<number> {
    for (const oracle of [...this.#oracles.keys()].sort((a, b) => a - b)) {
      const slots = (this.#oracles.get(oracle) as BySeq).slot
      for (let s = 0; s < slots.length; s++) if (slots[s] !== 0) yield receiptPosition(oracle, s)
    }
  }

  * values (): MapIterator<Receipt> {
    for (const position of this.keys()) yield this.get(position) as Receipt
  }

  * entries (): MapIterator<[number, Receipt]> {
    for (const position of this.keys()) yield [position, this.get(position) as Receipt]
  }

  [Symbol.iterator] (): MapIterator<[number, Receipt]> {
    return this.entries()
  }

  forEach (fn: (value: Receipt, key: number, map: ReadonlyMap<number, Receipt>) => void, thisArg?: unknown): void {
    for (const [k, v] of this.entries()) fn.call(thisArg, v, k, this)
  }
}

/** What a seller settled, as `Chain.settledIds` lends it: payment id -> the position of the receipt settled. */
export class SettledIds implements ReadonlyMap<string, number> {
  readonly #store: ReceiptStore
  readonly #seller: number

  constructor (store: ReceiptStore, seller: number) {
    this.#store = store
    this.#seller = seller
  }

  get size (): number {
    return this.#store.settledCountOf(this.#seller)
  }

  get (paymentId: string): number | undefined {
    let found: number | undefined
    this.#store.somePosition(paymentId, p => {
      if (this.#store.settledBy(p) !== this.#seller) return false
      found = p
      return true
    })
    return found
  }

  has (paymentId: string): boolean {
    return this.get(paymentId) !== undefined
  }

  * entries (): MapIterator<[string, number]> {
    for (const p of this.#store.settledPositions(this.#seller)) {
      const id = this.#store.paymentIdAt(p)
      if (id !== undefined) yield [id, p]
    }
  }

  * keys (): MapIterator<string> {
    for (const [id] of this.entries()) yield id
  }

  * values (): MapIterator<number> {
    yield * this.#store.settledPositions(this.#seller)
  }

  [Symbol.iterator] (): MapIterator<[string, number]> {
    return this.entries()
  }

  forEach (fn: (value: number, key: string, map: ReadonlyMap<string, number>) => void, thisArg?: unknown): void {
    for (const [k, v] of this.entries()) fn.call(thisArg, v, k, this)
  }
}
