/**
 * The relay's decision: on or off at a time, why, and what the agent publishes beside it (usable
 * funds, low-balance warnings, days remaining, when the decision next changes by the clock alone).
 *
 * Order of precedence:
 * 1. a tripped load limit: off, `load-limit` (it trumps everything, friendly credit included);
 * 2. units usable now: on, `window` while an open funding window still holds units (the ledger burns
 *    those first), else `funded`;
 * 3. nothing usable, on a holiday (the local date is in `holidays`): on, `holiday`;
 * 4. nothing usable, in a friendly-credit hour (the local hour is in `friendlyCreditHours`): on,
 *    `friendly-credit`;
 * 5. off: `empty`, or `no-data` if no funds view was ever learned.
 *
 * Pure: the time is an argument, nothing reads a clock or does I/O.
 */
import type { DeviceFundsView } from '@microgrid/core'
import { checkTimeZone, isIsoDate, localDate, localParts, nextDate, nextLocalBoundary, startOfLocalDate, HOUR_MS } from './local-time.ts'
import type { LoadState } from './load-limit.ts'
import { checkThresholds, lowBalanceWarnings, type LowBalanceWarning, type UsageEstimator } from './usage.ts'

export type { LoadState } from './load-limit.ts'
export type { LowBalanceWarning } from './usage.ts'

export interface RelayPolicyOptions {
  /**
   * Hours of the day (0-23) in the grid's local time in which power stays on at a zero balance
   * (genesis policy friendlyCreditHours: `policyOf(genesis).friendlyCreditHours`). An hour that a
   * daylight-saving transition skips does not happen that day; one it repeats lasts two hours.
   */
  friendlyCreditHours: readonly number[]
  /** IANA time zone of the grid's local time, e.g. "America/Puerto_Rico"; default the system's. */
  timeZone?: string
  /** Dates (YYYY-MM-DD, local) on which power stays on at a zero balance, from local midnight to the next. */
  holidays?: readonly string[]
  /** Low-balance warnings at these thresholds (Wh), e.g. [5000, 1000]. */
  lowBalanceWh?: readonly number[]
}

export type RelayReason = 'funded' | 'window' | 'friendly-credit' | 'holiday' | 'empty' | 'load-limit' | 'no-data'

/** The decision, JSON-safe as it stands (no undefined, no Infinity): what the agent publishes. */
export interface RelayDecision {
  /** The time decided for (the `now` given). */
  at: number
  on: boolean
  reason: RelayReason
  /**
   * Wh usable at `at`: the view's general funds and windows open at `at` (cited by the meter or not;
   * the view's own `state` fields, relative to the view's time, are not read), less what was burned
   * locally since the view, taken from those open windows first and then from general funds whenever
   * it was metered. So it never overstates: burns metered in a window that has closed since count
   * against general funds until a fresh view says otherwise. Never below 0; 0 without a view.
   */
  usableWh: number
  /** One per configured threshold `usableWh` is at or below, lowest threshold first; none without a view. */
  warnings: LowBalanceWarning[]
  /** Days `usableWh` lasts at recent use; null without a view, with too little history, or with no use. */
  daysRemaining: number | null
  /**
   * When the decision (on, reason or usable Wh) will change by the clock alone, if nothing else
   * happens: a window opens or ends, a friendly-credit hour or a holiday starts or ends, the load
   * limit's back-off ends, or it trips (`load.tripAt`). Null if never. Re-decide then, and whenever a
   * pulse, a funds view or the load state arrives.
   */
  nextChange: number | null
  /** For `load-limit`: the estimated power that tripped it, W; otherwise null. */
  watts: number | null
}

export interface RelayInput {
  /** ms since the epoch. */
  now: number
  /** The last funds view learned from a full node (`fundsOf(state, device, at)`), or null if none was ever learned. */
  funds: DeviceFundsView | null
  /** Wh metered locally since that view was taken and not in the ledger yet (≥ 0). */
  burnedSinceWh: number
  load: LoadState
  usage: UsageEstimator
}

/**
 * Throws a RangeError naming the option unless `options` are well formed: hours integers 0-23, a time
 * zone `Intl` knows, holidays real dates written YYYY-MM-DD, thresholds finite numbers ≥ 0. Call it when
 * the config is loaded; `decideRelay` calls it too.
 */
export function checkRelayPolicyOptions (options: RelayPolicyOptions): void {
  if (typeof options !== 'object' || options === null) throw new RangeError('relay policy options must be an object')
  const hours: unknown = options.friendlyCreditHours
  if (!Array.isArray(hours)) throw new RangeError(`friendlyCreditHours must be an array of hours 0-23, got ${String(hours)}`)
  hours.forEach((h: unknown, i) => {
    if (typeof h !== 'number' || !Number.isInteger(h) || h < 0 || h > 23) throw new RangeError(`friendlyCreditHours[${i}] must be an integer hour 0-23, got ${String(h)}`)
  })
  checkTimeZone(options.timeZone, 'timeZone')
  const holidays: unknown = options.holidays
  if (holidays !== undefined) {
    if (!Array.isArray(holidays)) throw new RangeError(`holidays must be an array of dates YYYY-MM-DD, got ${String(holidays)}`)
    holidays.forEach((d: unknown, i) => {
      if (!isIsoDate(d)) throw new RangeError(`holidays[${i}] must be a date YYYY-MM-DD, got ${JSON.stringify(d)}`)
    })
  }
  checkThresholds(options.lowBalanceWh, 'lowBalanceWh')
}

/** What the funds say at a time: usable Wh, and how much of it is in open windows. */
interface Usable { total: number, inWindows: number }

/**
 * Usable at `t` from the view, less `burned`: the view's general funds plus the windows open at `t`
 * (whatever the view's own `state`, which is relative to the view's time; cited by the meter or not),
 * less what was burned since. Local burns are taken from open windows first (the ledger's order) and
 * then from general funds, so the result never overstates: burns that came out of a window that has
 * closed since are still taken from what is usable now.
 */
function usableAt (funds: DeviceFundsView, burned: number, t: number): Usable {
  let open = 0
  for (const w of funds.windows) if (w.from <= t && t < w.until) open += w.remaining
  const inWindows = Math.max(0, open - burned)
  const general = Math.max(0, funds.general - Math.max(0, burned - open))
  return { total: inWindows + general, inWindows }
}

interface Compiled {
  friendly: ReadonlySet<number>
  holidays: ReadonlySet<string>
  timeZone: string | undefined
}

/** The decision at `t` from funds and the calendar alone (no load limit). */
function decideAt (input: RelayInput, c: Compiled, t: number): { on: boolean, reason: RelayReason, usableWh: number } {
  const { funds } = input
  const usable = funds === null ? { total: 0, inWindows: 0 } : usableAt(funds, input.burnedSinceWh, t)
  if (usable.total > 0) return { on: true, reason: usable.inWindows > 0 ? 'window' : 'funded', usableWh: usable.total }
  if (c.holidays.size > 0 || c.friendly.size > 0) {
    const p = localParts(t, c.timeZone)
    if (c.holidays.has(`${String(p.year).padStart(4, '0')}-${String(p.month).padStart(2, '0')}-${String(p.day).padStart(2, '0')}`)) return { on: true, reason: 'holiday', usableWh: 0 }
    if (c.friendly.has(p.hour)) return { on: true, reason: 'friendly-credit', usableWh: 0 }
  }
  return { on: false, reason: funds === null ? 'no-data' : 'empty', usableWh: 0 }
}

function same (a: ReturnType<typeof decideAt>, b: ReturnType<typeof decideAt>): boolean {
  return a.on === b.on && a.reason === b.reason && a.usableWh === b.usableWh
}

/** How long a stretch of friendly-credit hours is scanned before concluding the hours change nothing in it: two local days and then some. */
const SCAN_MS = 50 * HOUR_MS

/** The first instant after `now` at which `decideAt` differs from `current`, by the clock alone. */
function nextClockChange (input: RelayInput, c: Compiled, current: ReturnType<typeof decideAt>): number | null {
  const { now, funds } = input
  // Instants at which the funds or the holiday status change: window edges, holiday starts and ends.
  const events = new Set<number>()
  if (funds !== null) {
    for (const w of funds.windows) {
      if (w.from > now) events.add(w.from)
      if (w.until > now) events.add(w.until)
    }
  }
  if (c.holidays.size > 0) {
    const today = localDate(now, c.timeZone)
    for (const d of c.holidays) {
      if (d < today) continue
      const start = startOfLocalDate(d, c.timeZone)
      const end = startOfLocalDate(nextDate(d), c.timeZone)
      if (start > now) events.add(start)
      if (end > now) events.add(end)
    }
  }
  const edges = [...events].sort((a, b) => a - b)
  // Between two events only the friendly-credit status can change the decision, and only while
  // nothing is usable and it is no holiday (at the start of each stretch the decision is `current`).
  const hoursMatter = c.friendly.size > 0 && c.friendly.size < 24 && current.usableWh === 0 && current.reason !== 'holiday'
  let t = now
  for (let i = 0; i <= edges.length; i++) {
    const end = edges[i] ?? Number.POSITIVE_INFINITY
    if (hoursMatter) {
      for (let b = nextLocalBoundary(t, c.timeZone); b < end && b - t <= SCAN_MS; b = nextLocalBoundary(b, c.timeZone)) {
        if (!same(decideAt(input, c, b), current)) return b
      }
    }
    if (end === Number.POSITIVE_INFINITY) return null
    if (!same(decideAt(input, c, end), current)) return end
    t = end
  }
  return null
}

/**
 * The relay's decision at `input.now` (see the module for the order of precedence). The funds view
 * may be older (or newer) than `now`: what is usable is recomputed at `now` from its windows and
 * general funds, less `burnedSinceWh`. Throws a RangeError naming the option or input that is malformed.
 */
export function decideRelay (input: RelayInput, options: RelayPolicyOptions): RelayDecision {
  checkRelayPolicyOptions(options)
  const { now, funds, burnedSinceWh, load, usage } = input
  if (typeof now !== 'number' || !Number.isFinite(now)) throw new RangeError(`now must be a finite time in ms, got ${String(now)}`)
  if (typeof burnedSinceWh !== 'number' || !Number.isFinite(burnedSinceWh) || burnedSinceWh < 0) throw new RangeError(`burnedSinceWh must be a finite number of Wh ≥ 0, got ${String(burnedSinceWh)}`)
  const c: Compiled = { friendly: new Set(options.friendlyCreditHours), holidays: new Set(options.holidays ?? []), timeZone: options.timeZone }
  const current = decideAt(input, c, now)
  const warnings = funds === null ? [] : lowBalanceWarnings(current.usableWh, options.lowBalanceWh ?? [])
  const daysRemaining = funds === null ? null : usage.daysRemaining(current.usableWh, now)
  if (load.tripped && now < load.until) {
    return { at: now, on: false, reason: 'load-limit', usableWh: current.usableWh, warnings, daysRemaining, nextChange: load.until, watts: load.watts }
  }
  let nextChange = nextClockChange(input, c, current)
  if (!load.tripped && load.tripAt !== undefined && load.tripAt > now && (nextChange === null || load.tripAt < nextChange)) nextChange = load.tripAt
  return { at: now, ...current, warnings, daysRemaining, nextChange, watts: null }
}
