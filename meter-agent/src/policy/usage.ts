/**
 * Recent use and what it says about the balance: Wh per day over a trailing window, the days the
 * usable balance lasts at that rate, and low-balance warnings. Pure: every method takes the time.
 */

const HOUR_MS = 3_600_000
const DAY_MS = 86_400_000

/** A low-balance threshold the usable balance is at or below. */
export interface LowBalanceWarning {
  /** The configured threshold, Wh. */
  thresholdWh: number
  /** The usable balance, Wh (at or below `thresholdWh`). */
  usableWh: number
}

export interface UsageEstimatorOptions {
  /** How far back use counts, ms (default 7 days). */
  windowMs?: number
  /** Use is kept in buckets of this length, ms, so memory stays bounded whatever the pulse rate; the window is counted in whole buckets (default 1 hour). */
  bucketMs?: number
  /** Least time observed before there is an estimate, ms (default 1 day: a household's use follows the day). */
  minSpanMs?: number
}

/** What `UsageEstimator.toJSON` writes and `fromJSON` reads: plain numbers, safe to persist. */
export interface UsageEstimatorJSON {
  windowMs: number
  bucketMs: number
  minSpanMs: number
  /** When observation started (the earliest record kept), or null before the first record. */
  since: number | null
  /** [bucket start ms, Wh] pairs, oldest first. */
  buckets: Array<[number, number]>
}

function positive (value: unknown, option: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new RangeError(`${option} must be a positive finite number of ms, got ${String(value)}`)
  return value
}

/**
 * Wh per day from recent use. Record what the meter measured (`record(at, wh)`, per pulse or per
 * batch, out of order allowed); ask for the rate at a time. The rate is the Wh recorded in the
 * trailing window divided by the time observed in it: the window, or less if observation started
 * later (the first record, which may be of 0 Wh: record 0 when the agent starts so that idle time
 * counts). Memory is one number per bucket of the window.
 *
 * Time the agent was not running looks like time without use: the estimate then runs low.
 */
export class UsageEstimator {
  readonly windowMs: number
  readonly bucketMs: number
  readonly minSpanMs: number
  /** Wh by bucket index (⌊at / bucketMs⌋). */
  readonly #buckets = new Map<number, number>()
  #since: number | null = null
  #latest = Number.NEGATIVE_INFINITY

  constructor (o: UsageEstimatorOptions = {}) {
    this.windowMs = o.windowMs === undefined ? 7 * DAY_MS : positive(o.windowMs, 'windowMs')
    this.bucketMs = o.bucketMs === undefined ? HOUR_MS : positive(o.bucketMs, 'bucketMs')
    this.minSpanMs = o.minSpanMs === undefined ? DAY_MS : positive(o.minSpanMs, 'minSpanMs')
    if (this.bucketMs > this.windowMs) throw new RangeError(`bucketMs (${this.bucketMs}) must not exceed windowMs (${this.windowMs})`)
    if (this.minSpanMs > this.windowMs) throw new RangeError(`minSpanMs (${this.minSpanMs}) must not exceed windowMs (${this.windowMs})`)
  }

  /** Records `wh` (≥ 0, fractions allowed) metered at `at`. Records older than the window are dropped. */
  record (at: number, wh: number): void {
    if (typeof at !== 'number' || !Number.isFinite(at)) throw new RangeError(`at must be a finite time in ms, got ${String(at)}`)
    if (typeof wh !== 'number' || !Number.isFinite(wh) || wh < 0) throw new RangeError(`wh must be a finite number ≥ 0, got ${String(wh)}`)
    const b = Math.floor(at / this.bucketMs)
    if (at > this.#latest) {
      this.#latest = at
      this.#prune()
    }
    if (b < this.#oldestKept()) return
    this.#buckets.set(b, (this.#buckets.get(b) ?? 0) + wh)
    if (this.#since === null || at < this.#since) this.#since = at
  }

  /** The oldest bucket index worth keeping: the first one a window ending at the latest record can touch. */
  #oldestKept (): number {
    return Math.floor((this.#latest - this.windowMs) / this.bucketMs)
  }

  #prune (): void {
    const oldest = this.#oldestKept()
    for (const b of this.#buckets.keys()) if (b < oldest) this.#buckets.delete(b)
    if (this.#since !== null && this.#since < oldest * this.bucketMs) this.#since = oldest * this.bucketMs
  }

  /**
   * Wh per day over the window ending at `now`, or null when less than `minSpanMs` has been observed
   * in it. The window is counted in whole buckets: it starts at the start of the bucket holding
   * `now - windowMs` (or at the first record, if later). Records in the bucket of `now` count even if
   * dated a little after `now`.
   */
  whPerDay (now: number): number | null {
    if (this.#since === null) return null
    const first = Math.floor((now - this.windowMs) / this.bucketMs)
    const last = Math.floor(now / this.bucketMs)
    const start = Math.max(this.#since, first * this.bucketMs)
    const span = now - start
    if (span < this.minSpanMs) return null
    let wh = 0
    for (const [b, v] of this.#buckets) if (b >= first && b <= last) wh += v
    return wh * DAY_MS / span
  }

  /**
   * Days the usable balance lasts at the recent rate: `usableWh / whPerDay(now)`. Null when there is
   * no estimate (too little observed) and when nothing was used in the window (no end in sight).
   */
  daysRemaining (usableWh: number, now: number): number | null {
    const rate = this.whPerDay(now)
    if (rate === null || rate <= 0) return null
    return Math.max(0, usableWh) / rate
  }

  toJSON (): UsageEstimatorJSON {
    return {
      windowMs: this.windowMs,
      bucketMs: this.bucketMs,
      minSpanMs: this.minSpanMs,
      since: this.#since,
      buckets: [...this.#buckets].sort((a, b) => a[0] - b[0]).map(([b, wh]) => [b * this.bucketMs, wh])
    }
  }

  /**
   * An estimator from `toJSON`'s output (e.g. read back from the agent's state file). `options`
   * overrides `windowMs` and `minSpanMs`; the bucket length is the stored one. Throws a RangeError
   * naming the field on anything malformed.
   */
  static fromJSON (json: unknown, options: Omit<UsageEstimatorOptions, 'bucketMs'> = {}): UsageEstimator {
    if (typeof json !== 'object' || json === null) throw new RangeError('usage estimator JSON must be an object')
    const j = json as Partial<Record<keyof UsageEstimatorJSON, unknown>>
    const u = new UsageEstimator({
      windowMs: options.windowMs ?? positive(j.windowMs, 'windowMs'),
      bucketMs: positive(j.bucketMs, 'bucketMs'),
      minSpanMs: options.minSpanMs ?? positive(j.minSpanMs, 'minSpanMs')
    })
    if (j.since !== null && (typeof j.since !== 'number' || !Number.isFinite(j.since))) throw new RangeError(`since must be a finite time in ms or null, got ${String(j.since)}`)
    if (!Array.isArray(j.buckets)) throw new RangeError('buckets must be an array of [start ms, Wh] pairs')
    j.buckets.forEach((pair: unknown, i) => {
      if (!Array.isArray(pair) || pair.length !== 2) throw new RangeError(`buckets[${i}] must be a [start ms, Wh] pair`)
      const [start, wh] = pair as [unknown, unknown]
      if (typeof start !== 'number' || !Number.isFinite(start)) throw new RangeError(`buckets[${i}][0] must be a finite time in ms, got ${String(start)}`)
      if (typeof wh !== 'number' || !Number.isFinite(wh) || wh < 0) throw new RangeError(`buckets[${i}][1] must be a finite number of Wh ≥ 0, got ${String(wh)}`)
      const b = Math.floor(start / u.bucketMs)
      u.#buckets.set(b, (u.#buckets.get(b) ?? 0) + wh)
      u.#latest = Math.max(u.#latest, start)
    })
    if (j.since !== null) {
      u.#since = j.since as number
      u.#latest = Math.max(u.#latest, u.#since)
    } else if (u.#buckets.size > 0) {
      throw new RangeError('since must be set when buckets are not empty')
    }
    u.#prune()
    return u
  }
}

/**
 * The low-balance warnings for a usable balance: one per configured threshold the balance is at or
 * below, lowest threshold (the most urgent) first. Thresholds are deduplicated.
 */
export function lowBalanceWarnings (usableWh: number, thresholdsWh: readonly number[]): LowBalanceWarning[] {
  return [...new Set(thresholdsWh)]
    .filter(t => usableWh <= t)
    .sort((a, b) => a - b)
    .map(thresholdWh => ({ thresholdWh, usableWh }))
}

/** Throws a RangeError naming `option` unless `thresholds` is an array of finite numbers ≥ 0. */
export function checkThresholds (thresholds: unknown, option = 'lowBalanceWh'): void {
  if (thresholds === undefined) return
  if (!Array.isArray(thresholds)) throw new RangeError(`${option} must be an array of Wh thresholds, got ${String(thresholds)}`)
  thresholds.forEach((t: unknown, i) => {
    if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) throw new RangeError(`${option}[${i}] must be a finite number of Wh ≥ 0, got ${String(t)}`)
  })
}
