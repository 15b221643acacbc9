import { checkDebounce, checkFinite, checkNumber, KWH_WMS, minPulseIntervalMs, type Debounce, type PulseEvent } from './events.ts'

/**
 * Turns raw edges of a pulse line into pulses. Levels are logical: 1 is the active (pulse) level,
 * whatever the wiring (a GPIO source asks gpiomon for `--active-low` when the pulse pulls the line low).
 *
 * - A pulse is a run of the active level from a rising edge to the next falling edge. It counts when
 *   the run lasted at least `minWidthMs` (shorter runs are contact bounce or noise: a bouncing edge
 *   gives several short runs and one long one, so it counts once) and began at least `minIntervalMs`
 *   after the last counted pulse began (a glitch just after a pulse does not count twice). The pulse is
 *   reported at its falling edge, with `at` = the time its run began.
 * - A run longer than `stuckMs` is a stuck line: {@link check} reports it as a `stuck` fault once
 *   `stuckMs` has passed (or `edge` does, at the falling edge, if `check` was not called in time), and
 *   it counts nothing, however it ends.
 * - Missing edges: a rising edge while already active means a falling edge was lost (the kernel's event
 *   queue overflowed, or the monitor restarted): the run before is unknown and counts nothing; the new
 *   run starts there. A falling edge while inactive is ignored. A line stuck at the inactive level sends
 *   no edges and cannot be told from a meter that measures nothing: it is not a fault here.
 * - Edges must come in time order; an edge earlier than the previous one drops the current run.
 */
export class Debouncer {
  readonly #d: Debounce
  #runStart: number | undefined
  #lastPulse: number | undefined
  #lastEdge = -Infinity
  #stuckReported = false

  constructor (d: Debounce) { this.#d = checkDebounce('debounce', d) }

  /** When the current active run began, or undefined while the line is inactive. */
  get activeSince (): number | undefined { return this.#runStart }

  /** Feeds one edge: the line became `level` at `at` (ms). Returns a counted pulse, a stuck fault, or nothing. */
  edge (at: number, level: 0 | 1): PulseEvent | undefined {
    checkFinite('Debouncer.edge at', at)
    if (level !== 0 && level !== 1) throw new RangeError(`Debouncer.edge level must be 0 or 1, got ${String(level)}`)
    if (at < this.#lastEdge) this.#runStart = undefined
    this.#lastEdge = at
    if (level === 1) {
      this.#runStart = at
      this.#stuckReported = false
      return undefined
    }
    const start = this.#runStart
    if (start === undefined) return undefined
    this.#runStart = undefined
    const width = at - start
    if (this.#stuckReported) { this.#stuckReported = false; return undefined }
    if (width > this.#d.stuckMs) return this.#stuck(at, width)
    if (width < this.#d.minWidthMs) return undefined
    if (this.#lastPulse !== undefined && start - this.#lastPulse < this.#d.minIntervalMs) return undefined
    this.#lastPulse = start
    return { type: 'pulse', at: start }
  }

  /** A `stuck` fault if the line has been active longer than `stuckMs` at `now` (once per stuck run). */
  check (now: number): PulseEvent | undefined {
    const start = this.#runStart
    if (start === undefined || this.#stuckReported || now - start <= this.#d.stuckMs) return undefined
    this.#stuckReported = true
    return this.#stuck(now, now - start)
  }

  #stuck (at: number, width: number): PulseEvent {
    return { type: 'fault', at, reason: 'stuck', detail: `pulse line active for ${Math.round(width)} ms, longer than stuckMs ${this.#d.stuckMs} ms: counted nothing` }
  }
}

/**
 * Flags physically impossible pulse rates: two pulses closer than one pulse's energy at `maxPowerW`
 * (`3.6e9 / (pulsesPerKwh × maxPowerW)` ms) mean more power than the circuit can carry, so the later
 * pulse is a fault (`implausible-rate`) and is not counted. Every pulse, counted or not, becomes the
 * reference for the next one: a sustained too-fast train counts nothing at all (rather than counting
 * at exactly `maxPowerW`), and the first plausible interval counts again. One spurious pulse between
 * two real ones can make the real one after it fail too: the guard errs towards counting less.
 */
export class RateGuard {
  /** The shortest accepted interval between two pulses, in ms. */
  readonly minIntervalMs: number
  readonly #pulsesPerKwh: number
  readonly #maxPowerW: number
  #last: number | undefined

  constructor (o: { pulsesPerKwh: number, maxPowerW: number }) {
    if (typeof o !== 'object' || o === null) throw new TypeError('RateGuard options must be an object { pulsesPerKwh, maxPowerW }')
    this.#pulsesPerKwh = checkNumber('pulsesPerKwh', o.pulsesPerKwh, 0, true)
    this.#maxPowerW = checkNumber('maxPowerW', o.maxPowerW, 0, true)
    this.minIntervalMs = minPulseIntervalMs(this.#pulsesPerKwh, this.#maxPowerW)
  }

  /** Judges a pulse at `at` (ms): the pulse itself, or an `implausible-rate` fault. */
  accept (at: number): PulseEvent {
    checkFinite('RateGuard.accept at', at)
    const last = this.#last
    this.#last = at
    if (last === undefined || at - last >= this.minIntervalMs) return { type: 'pulse', at }
    const dt = at - last
    const detail = dt <= 0
      ? `pulse at ${at} is not after the previous pulse at ${last}: not counted`
      : `pulses ${dt} ms apart mean ${Math.round(KWH_WMS / (this.#pulsesPerKwh * dt))} W, above maxPowerW ${this.#maxPowerW} W ` +
        `at ${this.#pulsesPerKwh} pulses/kWh (minimum ${Math.round(this.minIntervalMs)} ms apart): not counted`
    return { type: 'fault', at, reason: 'implausible-rate', detail }
  }
}
