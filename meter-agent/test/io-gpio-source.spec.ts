/**
 * The GPIO pulse source against fake gpiomon/gpiofind/gpioinfo executables (fixtures/gpiod) that
 * accept only their generation's options and print events in its formats: v1 (bookworm, 1.6) and
 * v2 (trixie, 2.x).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { gpioSource, type GpioSourceOptions, type PulseEvent, type PulseSource } from '../src/io/pulses.ts'
import { fakeGpiod, fakeTools, manualTime, waitFor, type FakeGpiod } from './fixtures/gpiod/fake.ts'

const T0 = Date.UTC(2026, 0, 1)
let fake: FakeGpiod | undefined
let source: PulseSource | undefined
afterEach(async () => {
  await source?.stop()
  source = undefined
  fake?.cleanup()
  fake = undefined
})

const base = (o: Partial<GpioSourceOptions> = {}): GpioSourceOptions => ({
  line: 'GPIO17',
  pulsesPerKwh: 1000,
  maxPowerW: 20_000, // 180 ms between pulses at least
  debounce: { minWidthMs: 15, minIntervalMs: 50, stuckMs: 5000 },
  tools: fakeTools,
  restartMs: 0,
  maxSkewMs: 60_000, // the fake prints its events at once, ahead of the clock
  ...o
})

/** `n` pulses 250 ms apart, 40 ms wide, with bounce on both edges and a noise spike, from kernel time 5000 s. */
function bouncyTrain (n: number, activeLow = false): Array<[0 | 1, number]> {
  const edges: Array<[0 | 1, number]> = []
  for (let k = 0; k < n; k++) {
    const t = 5_000_000 + k * 250
    edges.push([1, t], [0, t + 0.3], [1, t + 0.6], [0, t + 40], [1, t + 40.4], [0, t + 40.9], [1, t + 100], [0, t + 100.2])
  }
  return activeLow ? edges.map(([l, t]) => [l === 1 ? 0 : 1, t]) : edges
}

async function started (o: GpioSourceOptions): Promise<PulseEvent[]> {
  const events: PulseEvent[] = []
  source = gpioSource(o)
  await source.start(e => events.push(e))
  return events
}

describe.each([1, 2] as const)('gpioSource with gpiod v%i', version => {
  const v1 = version === 1

  it('finds the line by name, counts debounced pulses, and stops gpiomon', async () => {
    fake = fakeGpiod(version)
    fake.events(bouncyTrain(6))
    const time = manualTime(T0)
    const events = await started(base({ version, clock: time.clock, setTimer: time.setTimer }))
    await waitFor(() => events.length === 6, 5000, '6 pulses')
    // kernel timestamps set the spacing; the first edge is anchored to the clock
    expect(events).toEqual([0, 1, 2, 3, 4, 5].map(k => ({ type: 'pulse', at: T0 + k * 250 + 0.6 })))
    if (v1) {
      expect(fake.starts('gpiofind')).toEqual([['GPIO17']])
      expect(fake.starts('gpiomon')).toEqual([['--line-buffered', '--format=%e %s %n', 'gpiochip0', '17']])
    } else {
      expect(fake.starts('gpiofind')).toEqual([])
      expect(fake.starts('gpiomon')).toEqual([['--banner', '--by-name', '--strict', '--consumer', 'microgrid-meter', '--format=%E %S', 'GPIO17']])
    }
    await source!.stop()
    expect(fake.records().at(-1)).toEqual(['gpiomon', 'release', 'GPIO17'])
    expect(events).toHaveLength(6)
  })

  it('passes a chip, active-low wiring and bias in the version\'s own spelling', async () => {
    fake = fakeGpiod(version)
    fake.events(bouncyTrain(3, true)) // the pulse pulls the line low
    const events = await started(base({ version, chip: 'gpiochip0', activeLow: true, bias: 'disabled' }))
    await waitFor(() => events.length === 3, 5000, '3 pulses')
    expect(events.every(e => e.type === 'pulse')).toBe(true)
    if (v1) {
      expect(fake.starts('gpioinfo')).toEqual([['gpiochip0']])
      expect(fake.starts('gpiomon')).toEqual([['--line-buffered', '--format=%e %s %n', '--active-low', '--bias=disable', 'gpiochip0', '17']])
    } else {
      expect(fake.starts('gpiomon')).toEqual([['--banner', '--by-name', '--strict', '--consumer', 'microgrid-meter', '--chip', 'gpiochip0',
        '--format=%E %S', '--active-low', '--bias=disabled', 'GPIO17']])
    }
  })

  it('detects the version when not told', async () => {
    fake = fakeGpiod(version)
    fake.events(bouncyTrain(2))
    const events = await started(base())
    await waitFor(() => events.length === 2, 5000, '2 pulses')
    expect(fake.records()[0]!.slice(0, 2)).toEqual(['gpiomon', 'version'])
    expect(fake.starts('gpiomon')[0]![0]).toBe(v1 ? '--line-buffered' : '--banner')
  })

  it('reports a stuck line once and counts nothing for it', async () => {
    fake = fakeGpiod(version)
    fake.events([...bouncyTrain(2), [1, 5_001_000]]) // then the line stays active
    const time = manualTime(T0)
    const events = await started(base({ version, clock: time.clock, setTimer: time.setTimer }))
    await waitFor(() => events.length === 2 && time.pending() === 1, 5000, 'the stuck check timer')
    time.advance(5000) // mapped rising edge at T0 + 1000: not yet stuck
    expect(events).toHaveLength(2)
    time.advance(1001)
    expect(events).toHaveLength(3)
    expect(events[2]).toMatchObject({ type: 'fault', reason: 'stuck', at: T0 + 6001 })
    time.advance(60_000)
    expect(events).toHaveLength(3)
  })

  it('flags pulses faster than maxPowerW allows and does not count them', async () => {
    fake = fakeGpiod(version)
    fake.events(bouncyTrain(4))
    const events = await started(base({ version, maxPowerW: 7200 })) // 500 ms apart at least: 250 is 14.4 kW
    await waitFor(() => events.length === 4, 5000, '4 events')
    expect(events.map(e => e.type === 'pulse' ? 'pulse' : e.reason)).toEqual(['pulse', 'implausible-rate', 'implausible-rate', 'implausible-rate'])
    expect(events[1]).toMatchObject({ detail: expect.stringMatching(/250 ms apart mean 14400 W, above maxPowerW 7200 W/) })
  })

  it('reports a gpiomon that fails with its stderr, and restarts it after restartMs', async () => {
    fake = fakeGpiod(version)
    const busy = "unable to request lines on chip '/dev/gpiochip0': Device or resource busy"
    fake.set('FAKE_GPIOD_FAIL_GPIOMON', busy)
    const time = manualTime(T0)
    const events = await started(base({ version, clock: time.clock, setTimer: time.setTimer, restartMs: 5000 }))
    await waitFor(() => events.length === 1, 5000, 'a fault')
    expect(events[0]).toEqual({ type: 'fault', at: T0, reason: 'source-error', detail: `GPIO line GPIO17: gpiomon exited (exit code 1): gpiomon: ${busy}` })
    fake.set('FAKE_GPIOD_FAIL_GPIOMON', undefined)
    fake.events(bouncyTrain(1))
    time.advance(5000)
    await waitFor(() => events.length === 2, 5000, 'a pulse after the restart')
    expect(events[1]).toMatchObject({ type: 'pulse' })
    expect(fake.starts('gpiomon')).toHaveLength(2)
  })

  it('reports gpiomon exiting after it ran, after the pulses it printed', async () => {
    fake = fakeGpiod(version)
    fake.events(bouncyTrain(2))
    fake.set('FAKE_GPIOD_EXIT_AFTER_EVENTS', 'error reading line events: Input/output error')
    const events = await started(base({ version }))
    await waitFor(() => events.length === 3, 5000, '2 pulses and a fault')
    expect(events.map(e => e.type)).toEqual(['pulse', 'pulse', 'fault'])
    expect(events[2]).toMatchObject({ reason: 'source-error', detail: expect.stringMatching(/exit code 1\): gpiomon: error reading line events: Input\/output error$/) })
  })

  it('reports a missing tool and an unknown line as source errors', async () => {
    fake = fakeGpiod(version)
    const missing = await started(base({ version, tools: { ...fakeTools, gpiomon: '/nonexistent/gpiomon' } }))
    await source!.stop()
    const unknown = await started(base({ version, line: 'GPIO99' }))
    await waitFor(() => unknown.length === 1, 5000, 'a fault')
    expect(missing).toEqual([expect.objectContaining({
      reason: 'source-error',
      detail: 'GPIO line GPIO17: gpiomon not found ("/nonexistent/gpiomon"): install the Debian package "gpiod", or set tools.gpiomon'
    })])
    expect(unknown[0]).toMatchObject({
      reason: 'source-error',
      detail: v1 ? 'GPIO line GPIO99: no GPIO line named "GPIO99" (gpiofind found none)' : "GPIO line GPIO99: gpiomon exited (exit code 1): gpiomon: cannot find line 'GPIO99'"
    })
  })

  it('reports a missing tool found while detecting the version', async () => {
    fake = fakeGpiod(version)
    const events = await started(base({ tools: { gpiomon: '/nonexistent/gpiomon' } }))
    expect(events).toEqual([expect.objectContaining({ reason: 'source-error', detail: expect.stringMatching(/gpiomon not found/) })])
  })
})

describe('gpioSource options', () => {
  it('names what is wrong', () => {
    const make = (o: object): unknown => gpioSource({ ...base(), ...o } as GpioSourceOptions)
    expect(() => make({ line: '17' })).toThrow(/line must be a line NAME such as "GPIO17", not an offset/)
    expect(() => make({ pulsesPerKwh: 0 })).toThrow(new RangeError('pulsesPerKwh must be a finite number > 0, got 0'))
    expect(() => make({ maxPowerW: undefined })).toThrow(new TypeError('maxPowerW must be a finite number > 0, got undefined'))
    expect(() => make({ debounce: { minWidthMs: 5, minIntervalMs: 5 } })).toThrow(/debounce\.stuckMs must be a finite number > 5, got undefined/)
    expect(() => make({ restartMs: -1 })).toThrow(/restartMs must be a finite number >= 0/)
    expect(() => make({ version: '2' })).toThrow(/version must be 1, 2 or 'auto'/)
    expect(() => gpioSource(undefined as unknown as GpioSourceOptions)).toThrow(TypeError)
  })

  it('cannot start twice', async () => {
    fake = fakeGpiod(2)
    await started(base({ version: 2 }))
    await expect(source!.start(() => {})).rejects.toThrow(/already started/)
  })
})
