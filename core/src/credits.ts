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

/** The credits one chain gave one account: (seq, running total) pairs, and the windows of those that have one. */
export interface CreditList {
  entries: number[]
  /** Funding windows of the credits that have one, by entry index. */
  windows: Map<number, FundingWindow> | null
}

/** How many credits of a list have a seq ≤ `seq` (binary search over the seqs, every second number). */
export function creditsUpTo (entries: readonly number[], seq: number): number {
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
export function creditAmount (entries: readonly number[], i: number): number {
  return (entries[2 * i + 1] as number) - (i > 0 ? entries[2 * i - 1] as number : 0)
}

/** The sum of credits i..end-1. */
export function creditSum (entries: readonly number[], i: number, end: number): number {
  if (i >= end) return 0
  return (entries[2 * end - 1] as number) - (i > 0 ? entries[2 * i - 1] as number : 0)
}

export function listTotal (list: CreditList): number {
  const e = list.entries
  return e.length === 0 ? 0 : e[e.length - 1] as number
}

export function appendCredit (list: CreditList, seq: number, wh: number, window: FundingWindow | null): void {
  const e = list.entries
  const n = e.length
  e.push(seq, (n > 0 ? e[n - 1] as number : 0) + wh)
  if (window !== null) (list.windows ??= new Map()).set(n / 2, window)
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

export class DeviceFunds {
  /** Windows declared and not yet closed, in the order declared. */
  windows: WindowFunds[] = []
  /** By funder (chain index), in the order each first funded the device. */
  readonly funders = new Map<number, FunderAccount>()

  #account (funder: number): FunderAccount {
    let a = this.funders.get(funder)
    if (a === undefined) this.funders.set(funder, a = { put: 0, burned: 0, returned: 0, general: 0 })
    return a
  }

  declare (funder: number, wh: number, window: FundingWindow | null): void {
    const a = this.#account(funder)
    a.put += wh
    if (window === null) a.general += wh
    else this.windows.push({ funder, from: window.from, until: window.until, remaining: wh })
  }

  /** Funds a burn dated `t` may draw on: open windows and general funds. */
  usableAt (t: number): number {
    let usable = 0
    for (const a of this.funders.values()) usable += a.general
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
      this.#account(w.funder).burned += take
      left -= take
    }
    for (const a of this.funders.values()) {
      if (left === 0) break
      const take = Math.min(a.general, left)
      a.general -= take
      a.burned += take
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
        this.#account(w.funder).returned += w.remaining
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
