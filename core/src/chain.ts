/**
 * One signer's chain and the account of the same key: the decided ops (the surviving line, seq 0 up),
 * what the chain has declared of other chains (its frontier), and the account's figures. The state
 * (`LedgerState`) owns every Chain and is the only writer; contracts read them through `ChainView`.
 */
import type { PublicKey, OpId } from '@microgrid/protocol'
import { CreditBook, type DeviceFunds, type FunderAccount, type ReadonlyCreditBook, type WindowFunds } from './credits.ts'
import { IntMap, IntSet, type ReadonlyIntMap, type ReadonlyIntSet } from './int-map.ts'

export const OpStatus = { accepted: 1, rejected: 2 } as const

/** A chain as everything outside `LedgerState` sees it: to read, never to change. */
export interface ChainView {
  readonly idx: number
  readonly key: PublicKey
  readonly hex: string
  /** Decided ops: their ids packed 32 bytes each and verdicts (`OpStatus`), `length` of them. */
  readonly length: number
  readonly ids: Uint8Array
  readonly status: Uint8Array
  readonly lastTs: number
  readonly tsAt: Float64Array | null
  readonly frontier: ReadonlyIntMap
  readonly witnessed: number
  readonly balance: number
  readonly declared: number
  readonly spent: number
  readonly reading: number | null
  readonly readingTs: number
  /** Wh this meter minted (generation) since its registration, accepted mints only. */
  readonly minted: number
  readonly burned: number
  readonly prices: readonly number[] | null
  readonly wholesale: number | null
  readonly retail: number | null
  readonly funds: ReadonlyDeviceFunds | null
  readonly credits: ReadonlyCreditBook
  readonly creditors: ReadonlyIntSet
  readonly settledIds: ReadonlyMap<string, number> | null
  readonly frozenFrom: number
  idAt: (seq: number) => OpId
  priceAt: (seq: number, which: 'wholesale' | 'retail') => number | null
}

/** A device's funding as `ChainView` lends it. */
export interface ReadonlyDeviceFunds {
  readonly windows: ReadonlyArray<Readonly<WindowFunds>>
  readonly funders: ReadonlyMap<number, Readonly<FunderAccount>>
  usableAt: (t: number) => number
  image: () => { funder: Int32Array<ArrayBuffer>, account: Float64Array<ArrayBuffer>, index: Int32Array<ArrayBuffer> | null }
}

export class Chain implements ChainView {
  readonly idx: number
  readonly key: PublicKey
  readonly hex: string
  /** Decided ops (the surviving line): ids packed 32 bytes each, verdict per seq (both in one buffer). */
  length = 0
  ids: Uint8Array
  status: Uint8Array
  lastTs = 0
  /** ts of each decided op, kept only for the grid's authorities (registrars, oracles): witnessed time. */
  tsAt: Float64Array | null = null
  /** Highest seq of each other chain this chain has declared in deps. */
  readonly frontier = new IntMap()
  /** The latest authority ts inside this chain's causal past (beacons, registrations, receipts). */
  witnessed = 0
  /** Global balance: every accepted credit minus everything that left the account. */
  balance = 0
  /** Credits inside the frontier (what this account may spend), and everything that left it. */
  declared = 0
  spent = 0
  /** Last cumulative meter reading and the ts it was signed at (mints and burns). */
  reading: number | null = null
  readingTs = 0
  /** Accepted mints (a generation meter) and burns (a device), in Wh. */
  minted = 0
  burned = 0
  /** Effective prices after each accepted price op: (seq, wholesale, retail) triples, -1 for unset. */
  prices: number[] | null = null
  /** A consumer device's funding, by funder and window (see credits.ts); null for other accounts. */
  funds: DeviceFunds | null = null
  /** Credits this chain gave to others, by credited account. */
  readonly credits = new CreditBook()
  /** Chains that credited this account: where its next debit should look for deps. */
  readonly creditors = new IntSet()
  /** Payment ids this seller settled, whichever oracle attested them. */
  settledIds: ReadonlyMap<string, number> | null = null
  /** The seq of the first fork not lifted by a registrar: ops above it are frozen. */
  frozenFrom = Number.POSITIVE_INFINITY

  constructor (idx: number, key: PublicKey, hex: string) {
    this.idx = idx
    this.key = key
    this.hex = hex
    const buffer = new ArrayBuffer(4 * 33)
    this.ids = new Uint8Array(buffer, 0, 4 * 32)
    this.status = new Uint8Array(buffer, 4 * 32, 4)
  }

  idAt (seq: number): OpId {
    return this.ids.subarray(seq * 32, seq * 32 + 32)
  }

  get wholesale (): number | null {
    return priceOf(this.prices, Number.POSITIVE_INFINITY, 1)
  }

  get retail (): number | null {
    return priceOf(this.prices, Number.POSITIVE_INFINITY, 2)
  }

  /** The wholesale or retail price in force at `seq` of this chain (its last price op at or below it). */
  priceAt (seq: number, which: 'wholesale' | 'retail'): number | null {
    return priceOf(this.prices, seq, which === 'wholesale' ? 1 : 2)
  }

  /**
   * Room for `capacity` decided ops, keeping those there are: ids and verdicts share one buffer (a
   * typed array and its buffer cost some 400 bytes of their own, per chain).
   */
  reserve (capacity: number): void {
    const buffer = new ArrayBuffer(capacity * 33)
    const ids = new Uint8Array(buffer, 0, capacity * 32)
    const status = new Uint8Array(buffer, capacity * 32, capacity)
    if (this.length > 0) {
      ids.set(this.ids.subarray(0, this.length * 32))
      status.set(this.status.subarray(0, this.length))
    }
    this.ids = ids
    this.status = status
  }

  push (id: OpId, status: number, ts: number): void {
    if ((this.length + 1) * 32 > this.ids.length) {
      // Half as much again: the ids of a million ops are most of a node's memory, doubling would
      // leave a third of it unused on average.
      this.reserve(Math.max(4, this.length + 1 + (this.length >>> 1)))
    }
    this.ids.set(id, this.length * 32)
    this.status[this.length] = status
    if (this.tsAt !== null) {
      if (this.length >= this.tsAt.length) {
        const grown = new Float64Array(Math.max(16, this.tsAt.length * 2))
        grown.set(this.tsAt)
        this.tsAt = grown
      }
      this.tsAt[this.length] = ts
    }
    this.length++
  }

  /** Forgets every decided op and figure: the chain is about to be decided again from its ops. */
  reset (): void {
    this.length = 0
    this.lastTs = 0
    this.frontier.clear()
    this.witnessed = 0
    this.balance += this.spent // what left the account comes back; credits to it are undone by their givers
    this.declared = 0
    this.spent = 0
    this.reading = null
    this.readingTs = 0
    this.minted = 0
    this.burned = 0
    this.prices = null
    this.funds = null
    this.credits.clear()
    this.settledIds = null
    this.frozenFrom = Number.POSITIVE_INFINITY
  }
}

function priceOf (prices: readonly number[] | null, seq: number, column: 1 | 2): number | null {
  if (prices === null) return null
  let lo = 0
  let hi = prices.length / 3
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if ((prices[3 * mid] as number) <= seq) lo = mid + 1
    else hi = mid
  }
  if (lo === 0) return null
  const price = prices[3 * (lo - 1) + column] as number
  return price < 0 ? null : price
}
