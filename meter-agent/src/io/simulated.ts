import { readFile } from 'node:fs/promises'
import { RateGuard } from './debounce.ts'
import { checkFinite, checkNumber, checkTime, describe, KWH_WMS, type PulseSource } from './events.ts'

/** One point of a power trace: from `at` (ms) on, the load draws (or the generator gives) `watts`. */
export interface TracePoint { at: number, watts: number }

/** Longest single timer wait: `setTimeout` fires at once above 2^31-1 ms, so long waits are chained. */
const MAX_WAIT_MS = 3_600_000

/**
 * A simulated meter: pulses at a constant `powerW`, or following a power `trace` (an array, or the path
 * of a CSV file read at `start`). One pulse is `1 / pulsesPerKwh` kWh of energy: at power P watts the
 * pulses are `3.6e9 / (pulsesPerKwh × P)` ms apart, and across trace steps the energy is integrated, so
 * a step in the middle of an interval moves the next pulse.
 *
 * A trace's times are relative to its first point (so recorded epoch times work as they are); each
 * point's power holds until the next point, and the last point's holds for ever (end a trace with a
 * 0 W point to stop it). CSV: one `at,watts` row a line (`at` in ms, or an ISO date), an optional header
 * row, blank lines and `#` comments ignored.
 *
 * Time comes from the injected `clock` and `setTimer` (real time by default); pulse times are exact
 * (start time + integrated offset), whenever the timer actually fires. With `maxPowerW`, pulses pass a
 * {@link RateGuard} first (to exercise `implausible-rate` faults with a trace).
 */
export function simulatedSource (options: {
  powerW?: number
  trace?: TracePoint[] | string
  pulsesPerKwh: number
  maxPowerW?: number
  clock?: { now (): number }
  setTimer?: (fn: () => void, ms: number) => { cancel (): void }
}): PulseSource {
  if (typeof options !== 'object' || options === null) throw new TypeError(`simulatedSource options must be an object, got ${describe(options)}`)
  const pulseWms = KWH_WMS / checkNumber('pulsesPerKwh', options.pulsesPerKwh, 0, true)
  const { clock, setTimer } = checkTime('simulatedSource', options.clock, options.setTimer)
  const guard = options.maxPowerW === undefined ? undefined : new RateGuard({ pulsesPerKwh: options.pulsesPerKwh, maxPowerW: options.maxPowerW })
  if ((options.powerW === undefined) === (options.trace === undefined)) {
    throw new TypeError('simulatedSource needs exactly one of powerW (watts) or trace (an array of { at, watts } or a CSV path)')
  }
  let fixed: TracePoint[] | undefined
  if (options.powerW !== undefined) fixed = [{ at: 0, watts: checkNumber('powerW', options.powerW, 0, false) }]
  else if (Array.isArray(options.trace)) fixed = checkTrace('trace', options.trace)
  else if (typeof options.trace !== 'string' || options.trace === '') {
    throw new TypeError(`trace must be an array of { at, watts } or the path of a CSV file, got ${describe(options.trace)}`)
  }
  const path = options.trace as string

  let run = 0
  let timer: { cancel (): void } | undefined
  return {
    async start (listener) {
      if (run % 2 === 1) throw new Error('simulatedSource: already started')
      if (typeof listener !== 'function') throw new TypeError(`simulatedSource.start: listener must be a function, got ${describe(listener)}`)
      const mine = ++run
      let points = fixed
      if (points === undefined) {
        try {
          points = parseTrace(await readFile(path, 'utf8'), path)
        } catch (err) {
          if (run === mine) run++
          throw err
        }
      }
      if (run !== mine) return // stopped while reading
      const trace: TracePoint[] = points
      const t0 = clock.now()
      const base = trace[0]!.at
      // the last pulse was at relative time `cursor`, in trace segment `seg`; the next one is one
      // pulse's energy (pulseWms, in W·ms) later
      let seg = 0
      let cursor = 0
      const next = (): { at: number, seg: number } | undefined => {
        let t = cursor
        let left = pulseWms
        for (let i = seg; ; i++) {
          const watts = trace[i]!.watts
          const end = i + 1 < trace.length ? trace[i + 1]!.at - base : Infinity
          if (watts > 0 && t + left / watts <= end) return { at: t + left / watts, seg: i }
          if (end === Infinity) return undefined
          left -= watts * (end - t)
          t = end
        }
      }
      let due = next()
      const tick = (): void => {
        timer = undefined
        const now = clock.now() - t0
        while (due !== undefined && due.at <= now && run === mine) {
          cursor = due.at
          seg = due.seg
          const at = t0 + due.at
          due = next()
          listener(guard === undefined ? { type: 'pulse', at } : guard.accept(at))
        }
        if (due !== undefined && run === mine) timer = setTimer(tick, Math.min(Math.max(0, due.at - now), MAX_WAIT_MS))
      }
      tick()
    },
    async stop () {
      if (run % 2 === 1) run++
      timer?.cancel()
      timer = undefined
    }
  }
}

function checkTrace (name: string, trace: unknown[]): TracePoint[] {
  if (trace.length === 0) throw new RangeError(`${name} must hold at least one { at, watts } point`)
  let prev = -Infinity
  return trace.map((p, i) => {
    if (typeof p !== 'object' || p === null) throw new TypeError(`${name}[${i}] must be an object { at, watts }, got ${describe(p)}`)
    const { at, watts } = p as Record<string, unknown>
    checkFinite(`${name}[${i}].at`, at)
    checkNumber(`${name}[${i}].watts`, watts, 0, false)
    if ((at as number) < prev) throw new RangeError(`${name}[${i}].at must not be before the point before it (${prev}), got ${String(at)}`)
    prev = at as number
    return { at: at as number, watts: watts as number }
  })
}

/** Parses a CSV power trace (see {@link simulatedSource}); errors name the file and line. */
export function parseTrace (text: string, source = 'trace'): TracePoint[] {
  const points: TracePoint[] = []
  const lines = text.split(/\r?\n/)
  let seenRow = false
  for (let n = 0; n < lines.length; n++) {
    const raw = lines[n]!.trim()
    if (raw === '' || raw.startsWith('#')) continue
    const fields = raw.split(',').map(f => f.trim())
    const at = fields.length === 2 ? parseTime(fields[0]!) : NaN
    const watts = fields.length === 2 && fields[1] !== '' ? Number(fields[1]) : NaN
    const first = !seenRow
    seenRow = true
    if (Number.isFinite(at) && Number.isFinite(watts) && watts >= 0) { points.push({ at, watts }); continue }
    if (first && fields.length === 2 && !Number.isFinite(at)) continue // a header row
    throw new RangeError(`${source}:${n + 1}: expected "<at ms or ISO time>,<watts >= 0>", got ${JSON.stringify(raw)}`)
  }
  if (points.length === 0) throw new RangeError(`${source}: no "<at>,<watts>" rows`)
  return checkTrace(source, points)
}

function parseTime (field: string): number {
  if (field === '') return NaN
  const n = Number(field)
  return Number.isFinite(n) ? n : Date.parse(field)
}
