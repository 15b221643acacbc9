import { Debouncer, RateGuard } from './debounce.ts'
import { checkDebounce, checkNumber, checkTime, describe, type Debounce, type PulseEvent, type PulseSource } from './events.ts'
import {
  checkGpioOptions, detectGpiodVersion, findLineV1, gpiomonArgs, parseEdgeLine, ToolProcess,
  type Bias, type GpiodTools, type GpiodVersion
} from './gpiod.ts'

export interface GpioSourceOptions {
  /** The input line's NAME, e.g. "GPIO17" (never an offset). */
  line: string
  /** Restrict the search to one chip (name, number or path); by default every chip is searched. */
  chip?: string
  pulsesPerKwh: number
  /** The most power the metered circuit can carry: faster pulses are `implausible-rate` faults. */
  maxPowerW: number
  debounce: Debounce
  /** Tool paths (default: `gpiomon`, `gpiofind`, `gpioinfo` on PATH). */
  tools?: GpiodTools
  /** libgpiod tools generation; 'auto' (the default) asks `gpiomon --version` at every (re)start. */
  version?: GpiodVersion | 'auto'
  clock?: { now (): number }
  /** Timer for stuck-line checks and restarts (default: setTimeout). */
  setTimer?: (fn: () => void, ms: number) => { cancel (): void }
  /** The pulse pulls the line low (an S0 open-collector output with a pull-up): gpiomon `--active-low`. */
  activeLow?: boolean
  /** Line bias asked of the kernel, e.g. 'pull-up' for an open-collector output with no external resistor. */
  bias?: Bias
  /** v2 consumer label shown by gpioinfo (default 'microgrid-meter'); v1 tools always show 'gpiomon'. */
  consumer?: string
  /** After gpiomon fails or exits, start it again this many ms later (default 5000; 0: never). */
  restartMs?: number
  /**
   * Kernel timestamps are mapped to the clock by an offset taken at the first edge; when an edge's
   * mapped time is further than this from the clock (the wall clock was set, e.g. by NTP after boot),
   * the offset is taken again. Default 5000 ms.
   */
  maxSkewMs?: number
}

/**
 * Pulses from a GPIO input through libgpiod's `gpiomon` (v1 or v2, see gpiod.ts): the line is found
 * by name, edges go through a {@link Debouncer} (widths and intervals measured on the kernel's event
 * timestamps, so a busy Node event loop does not distort them) and pulses through a {@link RateGuard}.
 *
 * Failures never throw from `start`: a missing tool, an unknown line, a busy line or gpiomon exiting
 * are each reported as a `source-error` fault naming the cause (with the tool's stderr), and gpiomon
 * is started again after `restartMs`. `start` resolves once gpiomon runs (v2: once its banner says the
 * line is requested, or after 5 s without it) or once the failure was reported. `stop` ends gpiomon;
 * no event follows it.
 */
export function gpioSource (options: GpioSourceOptions): PulseSource {
  if (typeof options !== 'object' || options === null) throw new TypeError(`gpioSource options must be an object, got ${describe(options)}`)
  const o = options
  checkGpioOptions('gpioSource', o)
  const debounce = checkDebounce('debounce', o.debounce)
  const guard = new RateGuard({ pulsesPerKwh: o.pulsesPerKwh, maxPowerW: o.maxPowerW })
  const { clock, setTimer } = checkTime('gpioSource', o.clock, o.setTimer)
  const restartMs = o.restartMs === undefined ? 5000 : checkNumber('restartMs', o.restartMs, 0, false)
  const maxSkewMs = o.maxSkewMs === undefined ? 5000 : checkNumber('maxSkewMs', o.maxSkewMs, 0, true)
  const consumer = o.consumer ?? 'microgrid-meter'

  let generation = 0
  let emit: ((e: PulseEvent) => void) | undefined
  let mon: ToolProcess | undefined
  let stuckTimer: { cancel (): void } | undefined
  let restartTimer: { cancel (): void } | undefined
  let debouncer = new Debouncer(debounce)
  let offset: number | undefined // clock ms minus kernel ms

  const send = (e: PulseEvent | undefined): void => { if (e !== undefined) emit?.(e) }

  const fail = (gen: number, detail: string): void => {
    if (gen !== generation) return
    stuckTimer?.cancel()
    stuckTimer = undefined
    mon = undefined
    send({ type: 'fault', at: clock.now(), reason: 'source-error', detail: `GPIO line ${o.line}: ${detail}` })
    if (restartMs > 0 && gen === generation) restartTimer = setTimer(() => { restartTimer = undefined; void launch(gen) }, restartMs)
  }

  const onEdge = (gen: number, text: string): void => {
    if (gen !== generation) return
    const edge = parseEdgeLine(text)
    if (edge === undefined) return
    const now = clock.now()
    let at = now
    if (edge.tsMs !== undefined) {
      if (offset === undefined || Math.abs(edge.tsMs + offset - now) > maxSkewMs) offset = now - edge.tsMs
      at = edge.tsMs + offset
    }
    const result = debouncer.edge(at, edge.level)
    send(result?.type === 'pulse' ? guard.accept(result.at) : result)
    stuckTimer?.cancel()
    stuckTimer = undefined
    const since = debouncer.activeSince
    if (since !== undefined) {
      stuckTimer = setTimer(() => {
        stuckTimer = undefined
        if (gen === generation) send(debouncer.check(clock.now()))
      }, Math.max(0, since + debounce.stuckMs - now) + 1)
    }
  }

  const launch = async (gen: number): Promise<void> => {
    let proc: ToolProcess
    let ready!: () => void
    const started = new Promise<void>(resolve => { ready = resolve })
    try {
      const version = o.version === undefined || o.version === 'auto' ? await detectGpiodVersion(o.tools, 'gpiomon') : o.version
      const where = version === 1 ? await findLineV1(o.tools, o.line, o.chip) : { chip: o.chip, offset: undefined }
      if (gen !== generation) return
      const args = gpiomonArgs(version, { line: o.line, ...where, activeLow: o.activeLow, bias: o.bias, consumer })
      debouncer = new Debouncer(debounce) // edges were missed while no monitor ran
      proc = new ToolProcess(o.tools, 'gpiomon', args, text => {
        if (version === 2 && text.startsWith('Monitoring line')) ready()
        else onEdge(gen, text)
      })
      if (version === 1) proc.child.once('spawn', ready) // v1 has no banner: running is all we learn
      else setTimeout(ready, 5000).unref() // no banner yet: start() returns, gpiomon keeps trying
    } catch (err) {
      fail(gen, (err as Error).message)
      return
    }
    mon = proc
    void proc.exited.then(e => {
      ready()
      if (mon === proc) fail(gen, proc.describe(e))
    })
    await started
  }

  return {
    async start (listener) {
      if (emit !== undefined) throw new Error('gpioSource: already started')
      if (typeof listener !== 'function') throw new TypeError(`gpioSource.start: listener must be a function, got ${describe(listener)}`)
      emit = listener
      await launch(++generation)
    },
    async stop () {
      generation++
      emit = undefined
      stuckTimer?.cancel()
      restartTimer?.cancel()
      stuckTimer = restartTimer = undefined
      const proc = mon
      mon = undefined
      await proc?.stop()
    }
  }
}
