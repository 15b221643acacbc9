/**
 * Relay drivers: a simulated one and a GPIO output held by libgpiod's `gpioset` (v1 or v2).
 * Which state the relay takes while the agent is not running, and why: meter-agent/README.md,
 * "Relay wiring".
 */
import { checkNumber, describe } from './events.ts'
import {
  checkGpioOptions, detectGpiodVersion, findLineV1, gpiosetArgs, ToolProcess,
  type GpiodTools, type GpiodVersion
} from './gpiod.ts'

export { detectGpiodVersion, type GpiodTools, type GpiodVersion } from './gpiod.ts'

/**
 * Switches the metered circuit. `state` is the last state confirmed by the hardware: null before the
 * first `set`, after `close`, and when the line was lost (the holder process died). Calls to `set` run
 * one at a time in call order; `set` to the state already held does nothing.
 */
export interface RelayDriver {
  set (on: boolean): Promise<void>
  readonly state: boolean | null
  close (): Promise<void>
}

/** A relay in memory: `onChange` hears every change of state. */
export function simulatedRelay (options?: { onChange?: (on: boolean) => void }): RelayDriver {
  const onChange = options?.onChange
  if (onChange !== undefined && typeof onChange !== 'function') throw new TypeError(`simulatedRelay: onChange must be a function, got ${describe(onChange)}`)
  let state: boolean | null = null
  let closed = false
  return {
    get state () { return state },
    async set (on) {
      if (typeof on !== 'boolean') throw new TypeError(`relay.set: on must be a boolean, got ${describe(on)}`)
      if (closed) throw new Error('relay.set: the relay is closed')
      if (state === on) return
      state = on
      onChange?.(on)
    },
    async close () { closed = true; state = null }
  }
}

export interface GpioRelayOptions {
  /** The output line's NAME, e.g. "GPIO27" (never an offset). */
  line: string
  /** Restrict the search to one chip (name, number or path); by default every chip is searched. */
  chip?: string
  /** The relay (circuit on) is driven by a high line (default true); false for low-triggered relay boards. */
  activeHigh?: boolean
  /** Tool paths (default: `gpioset`, `gpiofind`, `gpioinfo` on PATH). */
  tools?: GpiodTools
  /** libgpiod tools generation; 'auto' (the default) asks `gpioset --version` once. */
  version?: GpiodVersion | 'auto'
  /** v2 consumer label shown by gpioinfo (default 'microgrid-meter'); v1 shows 'gpioset'. */
  consumer?: string
  /**
   * v1 only: v1 gpioset prints nothing once it holds the line, so a set counts as done when gpioset
   * is still running this many ms after it started (default 150; a failed request exits within a few ms).
   */
  settleMs?: number
  /** v2 only: how long to wait for gpioset's banner before giving up (default 5000 ms). */
  timeoutMs?: number
  /** Hears a holder that died after a successful set (the line is then released and `state` is null). */
  onError?: (err: Error) => void
}

/**
 * A relay on a GPIO output. Each `set` starts a `gpioset` that holds the line at the new level for as
 * long as it runs (v1 `--mode=wait`, v2 by default) and then ends the previous holder; the line is never
 * left to a gpioset that exited. A failed set rejects with the tool's stderr and leaves `state` null
 * (the old holder is gone by then: the line is released). `close` ends the holder: the line is released.
 */
export function gpioRelay (options: GpioRelayOptions): RelayDriver {
  if (typeof options !== 'object' || options === null) throw new TypeError(`gpioRelay options must be an object, got ${describe(options)}`)
  const o = options
  checkGpioOptions('gpioRelay', o)
  if (o.activeHigh !== undefined && typeof o.activeHigh !== 'boolean') throw new TypeError(`gpioRelay: activeHigh must be a boolean, got ${describe(o.activeHigh)}`)
  if (o.onError !== undefined && typeof o.onError !== 'function') throw new TypeError(`gpioRelay: onError must be a function, got ${describe(o.onError)}`)
  const settleMs = o.settleMs === undefined ? 150 : checkNumber('settleMs', o.settleMs, 0, false)
  const timeoutMs = o.timeoutMs === undefined ? 5000 : checkNumber('timeoutMs', o.timeoutMs, 0, true)
  const activeHigh = o.activeHigh ?? true
  const consumer = o.consumer ?? 'microgrid-meter'

  let version: GpiodVersion | undefined = o.version === 'auto' ? undefined : o.version
  let where: { chip: string, offset: number } | undefined
  let holder: ToolProcess | undefined
  let state: boolean | null = null
  let closed = false
  let queue: Promise<unknown> = Promise.resolve()

  const release = async (): Promise<void> => {
    const h = holder
    holder = undefined
    state = null
    await h?.stop()
  }

  const apply = async (on: boolean): Promise<void> => {
    if (closed) throw new Error('relay.set: the relay is closed')
    if (state === on && holder?.running === true) return
    version ??= await detectGpiodVersion(o.tools, 'gpioset')
    if (version === 1) where ??= await findLineV1(o.tools, o.line, o.chip)
    const value = on === activeHigh ? 1 : 0
    const args = gpiosetArgs(version, { line: o.line, chip: where?.chip ?? o.chip, offset: where?.offset, consumer, value })
    await release() // one request per line: the old holder must let go first
    let settle!: (r: 'ok' | 'timeout') => void
    const settled = new Promise<'ok' | 'timeout'>(resolve => { settle = resolve })
    const h = new ToolProcess(o.tools, 'gpioset', args, text => { if (version === 2 && text.startsWith('Setting line')) settle('ok') }, version === 1)
    let timer: ReturnType<typeof setTimeout> | undefined
    if (version === 1) h.child.once('spawn', () => { timer = setTimeout(() => settle('ok'), settleMs) })
    else timer = setTimeout(() => settle('timeout'), timeoutMs)
    const first = await Promise.race([settled, h.exited])
    clearTimeout(timer)
    if (first === 'timeout') {
      await h.stop()
      throw new Error(`relay ${o.line}: could not set it ${on ? 'on' : 'off'}: gpioset printed no banner within ${timeoutMs} ms`)
    }
    if (first !== 'ok') throw new Error(`relay ${o.line}: could not set it ${on ? 'on' : 'off'}: ${h.describe(first)}`)
    holder = h
    state = on
    void h.exited.then(e => {
      if (holder !== h) return
      holder = undefined
      state = null
      o.onError?.(new Error(`relay ${o.line}: the line was released: ${h.describe(e)}`))
    })
  }

  return {
    get state () { return state },
    set (on) {
      if (typeof on !== 'boolean') return Promise.reject(new TypeError(`relay.set: on must be a boolean, got ${describe(on)}`))
      const p = queue.then(() => apply(on))
      queue = p.catch(() => {})
      return p
    },
    close () {
      const p = queue.then(async () => { closed = true; await release() })
      queue = p.catch(() => {})
      return p
    }
  }
}
