/**
 * The pulse interface shared by every source (simulated, GPIO), and the option checks they use.
 * A source reports what it saw as events; it keeps no counter (the agent persists the count).
 */

/** One debounced, plausible pulse, or a fault that counted nothing. `at` is ms since the epoch. */
export type PulseEvent =
  | { type: 'pulse', at: number }
  | { type: 'fault', at: number, reason: 'stuck' | 'implausible-rate' | 'source-error', detail: string }

/** A pulse source: `start` begins delivering events to `listener`, `stop` ends it (no event after). */
export interface PulseSource {
  start (listener: (event: PulseEvent) => void): Promise<void>
  stop (): Promise<void>
}

/**
 * Debounce settings (see {@link Debouncer}).
 * - `minWidthMs`: a pulse counts only if its active level lasted at least this long without a break.
 * - `minIntervalMs`: a pulse counts only if it began at least this long after the last counted one.
 * - `stuckMs`: the active level held longer than this is a stuck line (a fault; it counts nothing).
 */
export interface Debounce { minWidthMs: number, minIntervalMs: number, stuckMs: number }

/** An injected clock (ms since the epoch). */
export interface ClockLike { now (): number }
/** An injected one-shot timer. */
export type SetTimer = (fn: () => void, ms: number) => { cancel (): void }

export const systemClock: ClockLike = { now: () => Date.now() }
export const realTimer: SetTimer = (fn, ms) => {
  const t = setTimeout(fn, ms)
  return { cancel: () => clearTimeout(t) }
}

/** A TypeError if `value` is not a number, a RangeError if it is not finite or below `min` (or equal, when `exclusive`). */
export function checkNumber (name: string, value: unknown, min: number, exclusive: boolean): number {
  const expected = `a finite number ${exclusive ? '>' : '>='} ${min}`
  if (typeof value !== 'number') throw new TypeError(`${name} must be ${expected}, got ${describe(value)}`)
  if (!Number.isFinite(value) || value < min || (exclusive && value === min)) {
    throw new RangeError(`${name} must be ${expected}, got ${value}`)
  }
  return value
}

/** A TypeError if `value` is not a number, a RangeError if it is NaN or infinite. */
export function checkFinite (name: string, value: unknown): number {
  if (typeof value !== 'number') throw new TypeError(`${name} must be a finite number, got ${describe(value)}`)
  if (!Number.isFinite(value)) throw new RangeError(`${name} must be a finite number, got ${value}`)
  return value
}

/** Validates a {@link Debounce}: widths and intervals >= 0, `stuckMs` > `minWidthMs`. */
export function checkDebounce (name: string, d: unknown): Debounce {
  if (typeof d !== 'object' || d === null) throw new TypeError(`${name} must be an object { minWidthMs, minIntervalMs, stuckMs }, got ${describe(d)}`)
  const o = d as Record<string, unknown>
  const minWidthMs = checkNumber(`${name}.minWidthMs`, o.minWidthMs, 0, false)
  const minIntervalMs = checkNumber(`${name}.minIntervalMs`, o.minIntervalMs, 0, false)
  const stuckMs = checkNumber(`${name}.stuckMs`, o.stuckMs, minWidthMs, true)
  return { minWidthMs, minIntervalMs, stuckMs }
}

/** Checks an injected clock and timer (both optional) and returns them or the real ones. */
export function checkTime (name: string, clock: unknown, setTimer: unknown): { clock: ClockLike, setTimer: SetTimer } {
  if (clock !== undefined && typeof (clock as ClockLike | null)?.now !== 'function') {
    throw new TypeError(`${name}.clock must be an object with a now() method, got ${describe(clock)}`)
  }
  if (setTimer !== undefined && typeof setTimer !== 'function') {
    throw new TypeError(`${name}.setTimer must be a function (fn, ms) => { cancel() }, got ${describe(setTimer)}`)
  }
  return { clock: (clock as ClockLike | undefined) ?? systemClock, setTimer: (setTimer as SetTimer | undefined) ?? realTimer }
}

export function describe (value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (value === null || typeof value !== 'object') return String(value)
  return Array.isArray(value) ? 'an array' : 'an object'
}

/** 1 kWh in watt-milliseconds. */
export const KWH_WMS = 3.6e9

/** The shortest plausible time between two pulses: one pulse's energy at `maxPowerW`. */
export function minPulseIntervalMs (pulsesPerKwh: number, maxPowerW: number): number {
  return KWH_WMS / (pulsesPerKwh * maxPowerW)
}
