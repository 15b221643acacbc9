/**
 * The load limit of a mini-grid meter: power estimated from the meter's pulse rate that stays above
 * `limitW` for `graceMs` trips the relay off for `backoffMs`; then it comes back (if funded), and trips
 * again if the load is still too high. Pure: every method takes the time, and the outcome does not
 * depend on how often the caller asks.
 */

/** Joules in a kWh over ms in a second: W = this / (pulsesPerKwh × ms between pulses). */
const J_PER_KWH_TIMES_MS_PER_S = 3_600_000_000

export interface LoadLimitOptions {
  /** The load limit, W (> 0). */
  limitW: number
  /** How long the estimated power may stay above the limit before the relay trips, ms (≥ 0). */
  graceMs: number
  /** How long the relay stays off once tripped, ms (> 0). */
  backoffMs: number
  /** The meter's pulses per kWh (its impulse constant, e.g. 1000 or 3200). */
  pulsesPerKwh: number
  /**
   * How far back pulses count for the estimate, ms. Default 60 s, or three pulse intervals at the
   * limit if that is longer (a meter with few pulses per kWh needs a longer window); it must hold at
   * least two pulses at the limit.
   */
  windowMs?: number
}

/**
 * Whether the load limit holds the relay off. Untripped, `tripAt` says when it will trip if the
 * estimated power stays above the limit (absent while it is not above the limit). Tripped, the relay
 * is off from `since` until `until` because the estimated power was `watts` (over `limitW`).
 */
export type LoadState =
  | { tripped: false, tripAt?: number }
  | { tripped: true, since: number, until: number, watts: number, limitW?: number }

interface Trip { since: number, until: number, watts: number }

function check (value: unknown, option: string, min: 'positive' | 'non-negative', unit: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || (min === 'positive' ? value <= 0 : value < 0)) {
    throw new RangeError(`${option} must be a ${min} finite number of ${unit}, got ${String(value)}`)
  }
  return value
}

/**
 * Feed it the meter's pulses (`pulse(at)`, debounced, in time order); ask `state(now)` before
 * switching the relay and `watts(now)` for the power.
 *
 * The power at `now` is the mean over the pulses of the trailing window, (n − 1) pulses' energy over
 * the time from the first to the last, but no more than one pulse's energy over the time since the
 * last pulse (a pulse overdue means the load has fallen); with fewer than two pulses in the window it is
 * their energy over the whole window. The power is above the limit from a pulse at which the estimate
 * exceeds `limitW` until a pulse at which it does not, or until one pulse interval at the limit passes
 * without a pulse. Above the limit for `graceMs`, the relay trips: off for `backoffMs`, the pulses
 * before the trip forgotten, and pulses while it is off (a relay that did not open) count for `watts`
 * but start no new trip until the back-off ends.
 *
 * Times should not go backwards; if they do (a clock stepped back), the history is forgotten and a trip
 * in progress lasts `backoffMs` from the earlier time.
 */
export class LoadLimiter {
  readonly limitW: number
  readonly graceMs: number
  readonly backoffMs: number
  readonly pulsesPerKwh: number
  readonly windowMs: number
  /** W × ms of one pulse: the power is this over the ms between pulses. */
  readonly #k: number
  /** Pulse times in the window, oldest first, from index #head. */
  #pulses: number[] = []
  #head = 0
  /** Start of the current spell above the limit, or null. */
  #overSince: number | null = null
  #trip: Trip | null = null
  #last = Number.NEGATIVE_INFINITY

  constructor (o: LoadLimitOptions) {
    this.limitW = check(o.limitW, 'limitW', 'positive', 'W')
    this.graceMs = check(o.graceMs, 'graceMs', 'non-negative', 'ms')
    this.backoffMs = check(o.backoffMs, 'backoffMs', 'positive', 'ms')
    this.pulsesPerKwh = check(o.pulsesPerKwh, 'pulsesPerKwh', 'positive', 'pulses per kWh')
    this.#k = J_PER_KWH_TIMES_MS_PER_S / this.pulsesPerKwh
    const intervalAtLimit = this.#k / this.limitW
    this.windowMs = o.windowMs === undefined
      ? Math.max(60_000, Math.ceil(3 * intervalAtLimit))
      : check(o.windowMs, 'windowMs', 'positive', 'ms')
    if (this.windowMs < 2 * intervalAtLimit) {
      throw new RangeError(`windowMs must hold at least two pulses at the limit: ≥ ${Math.ceil(2 * intervalAtLimit)} ms at ${this.pulsesPerKwh} pulses per kWh and ${this.limitW} W, got ${this.windowMs}`)
    }
  }

  /** A pulse of the meter at `at`. */
  pulse (at: number): void {
    if (typeof at !== 'number' || !Number.isFinite(at)) throw new RangeError(`at must be a finite time in ms, got ${String(at)}`)
    this.#advance(at)
    this.#pulses.push(at)
    this.#prune(at)
    if (this.#trip !== null) return
    if (this.#estimate(at) > this.limitW) this.#overSince ??= at
    else this.#overSince = null
  }

  /** Whether the limit holds the relay off at `now`. */
  state (now: number): LoadState {
    if (typeof now !== 'number' || !Number.isFinite(now)) throw new RangeError(`now must be a finite time in ms, got ${String(now)}`)
    this.#advance(now)
    if (this.#trip !== null) return { tripped: true, ...this.#trip, limitW: this.limitW }
    return this.#overSince === null ? { tripped: false } : { tripped: false, tripAt: this.#overSince + this.graceMs }
  }

  /** The estimated power at `now`, W (see the class). */
  watts (now: number): number {
    if (typeof now !== 'number' || !Number.isFinite(now)) throw new RangeError(`now must be a finite time in ms, got ${String(now)}`)
    this.#advance(now)
    return this.#estimate(now)
  }

  /** Settles what happened by the clock alone up to `now`: a trip after the grace period, a spell that ended, a back-off that ended. */
  #advance (now: number): void {
    if (now < this.#last) {
      this.#pulses = []
      this.#head = 0
      this.#overSince = null
      if (this.#trip !== null) this.#trip = { ...this.#trip, since: now, until: now + this.backoffMs }
    }
    this.#last = now
    if (this.#trip === null && this.#overSince !== null) {
      const tripAt = this.#overSince + this.graceMs
      const lastPulse = this.#pulses[this.#pulses.length - 1] as number
      const fallsAt = lastPulse + this.#k / this.limitW // the estimate is at most the limit from here on
      if (fallsAt <= tripAt) {
        if (now >= fallsAt) this.#overSince = null
      } else if (now >= tripAt) {
        const watts = this.#estimate(tripAt)
        this.#overSince = null
        if (watts > this.limitW) {
          this.#trip = { since: tripAt, until: tripAt + this.backoffMs, watts: Math.round(watts) }
          this.#pulses = []
          this.#head = 0
        }
      }
    }
    if (this.#trip !== null && now >= this.#trip.until) this.#trip = null
  }

  #prune (now: number): void {
    const from = now - this.windowMs
    while (this.#head < this.#pulses.length && (this.#pulses[this.#head] as number) <= from) this.#head++
    if (this.#head > 64 && this.#head * 2 > this.#pulses.length) {
      this.#pulses = this.#pulses.slice(this.#head)
      this.#head = 0
    }
  }

  /** The power estimate at `t` from the pulses in (t - windowMs, t]. */
  #estimate (t: number): number {
    const from = t - this.windowMs
    let first = this.#head
    while (first < this.#pulses.length && (this.#pulses[first] as number) <= from) first++
    let end = this.#pulses.length
    while (end > first && (this.#pulses[end - 1] as number) > t) end--
    const n = end - first
    if (n === 0) return 0
    if (n === 1) return this.#k / this.windowMs
    const t1 = this.#pulses[first] as number
    const tn = this.#pulses[end - 1] as number
    const mean = (n - 1) * this.#k / Math.max(1, tn - t1)
    return t === tn ? mean : Math.min(mean, this.#k / (t - tn))
  }
}
