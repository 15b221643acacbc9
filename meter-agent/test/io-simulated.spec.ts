/** The simulated pulse source: a constant power or a trace (array or CSV), on an injected clock and timer. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parseTrace, simulatedSource, type PulseEvent } from '../src/io/pulses.ts'
import { manualTime } from './fixtures/gpiod/fake.ts'

const T0 = Date.UTC(2026, 0, 1)
const tmp = mkdtempSync(join(tmpdir(), 'sim-trace-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

async function collect (options: Parameters<typeof simulatedSource>[0], runMs: number, time = manualTime(T0)): Promise<PulseEvent[]> {
  const events: PulseEvent[] = []
  const source = simulatedSource({ clock: time.clock, setTimer: time.setTimer, ...options })
  await source.start(e => events.push(e))
  time.advance(runMs)
  await source.stop()
  return events
}

describe('simulatedSource at a constant power', () => {
  it('pulses every 3.6e9 / (pulsesPerKwh × W) ms: 3600 W at 1000 pulses/kWh is one a second', async () => {
    const events = await collect({ powerW: 3600, pulsesPerKwh: 1000 }, 10_000)
    expect(events).toEqual(Array.from({ length: 10 }, (_, i) => ({ type: 'pulse', at: T0 + (i + 1) * 1000 })))
  })

  it('gives exact times however late the timer fires', async () => {
    const time = manualTime(T0)
    const events: PulseEvent[] = []
    const source = simulatedSource({ powerW: 7200, pulsesPerKwh: 1000, clock: time.clock, setTimer: (fn, ms) => time.setTimer(fn, ms + 1234) })
    await source.start(e => events.push(e))
    time.advance(5000)
    expect(events.map(e => e.at - T0)).toEqual([500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 4500])
    await source.stop()
  })

  it('at 0 W never pulses and leaves no timer', async () => {
    const time = manualTime(T0)
    expect(await collect({ powerW: 0, pulsesPerKwh: 1000 }, 1e9, time)).toEqual([])
    expect(time.pending()).toBe(0)
  })

  it('chains long waits (setTimeout cannot wait more than 2^31-1 ms)', async () => {
    const time = manualTime(T0)
    const delays: number[] = []
    const events: PulseEvent[] = []
    const source = simulatedSource({ powerW: 0.1, pulsesPerKwh: 1, clock: time.clock, setTimer: (fn, ms) => { delays.push(ms); return time.setTimer(fn, ms) } })
    await source.start(e => events.push(e))
    time.advance(3.6e10) // 1 kWh at 0.1 W: 3.6e10 ms (417 days)
    expect(events).toEqual([{ type: 'pulse', at: T0 + 3.6e10 }])
    expect(delays.every(d => d <= 3_600_000)).toBe(true)
    await source.stop()
  })

  it('stops: no pulse after stop(), and it can start again', async () => {
    const time = manualTime(T0)
    const events: PulseEvent[] = []
    const source = simulatedSource({ powerW: 3600, pulsesPerKwh: 1000, clock: time.clock, setTimer: time.setTimer })
    await source.start(e => events.push(e))
    await expect(source.start(() => {})).rejects.toThrow(/already started/)
    time.advance(2500)
    await source.stop()
    time.advance(10_000)
    expect(events).toHaveLength(2)
    expect(time.pending()).toBe(0)
    await source.start(e => events.push(e))
    time.advance(1000)
    expect(events.at(-1)).toEqual({ type: 'pulse', at: T0 + 13_500 })
    await source.stop()
  })

  it('stop() from inside the listener stops at once', async () => {
    const time = manualTime(T0)
    const events: PulseEvent[] = []
    const source = simulatedSource({ powerW: 36_000, pulsesPerKwh: 1000, clock: time.clock, setTimer: time.setTimer })
    await source.start(e => { events.push(e); if (events.length === 3) void source.stop() })
    time.advance(60_000)
    expect(events).toHaveLength(3)
  })
})

describe('simulatedSource from a trace', () => {
  const trace = [{ at: 0, watts: 3600 }, { at: 5000, watts: 7200 }, { at: 10_000, watts: 0 }]
  const expected = [1000, 2000, 3000, 4000, 5000, 5500, 6000, 6500, 7000, 7500, 8000, 8500, 9000, 9500, 10_000]

  it('follows the power steps (15 pulses: 5 at 3600 W, 10 at 7200 W, then none)', async () => {
    const events = await collect({ trace, pulsesPerKwh: 1000 }, 60_000)
    expect(events.map(e => e.at - T0)).toEqual(expected)
  })

  it('integrates energy across a step in the middle of an interval', async () => {
    // 1000-1500 ms at 3600 W is half a pulse; the other half at 7200 W takes 250 ms
    const events = await collect({ trace: [{ at: 0, watts: 3600 }, { at: 1500, watts: 7200 }], pulsesPerKwh: 1000 }, 3000)
    expect(events.map(e => e.at - T0)).toEqual([1000, 1750, 2250, 2750])
  })

  it('takes times relative to the first point, so recorded epoch times work', async () => {
    const epoch = trace.map(p => ({ at: p.at + Date.UTC(2025, 5, 1), watts: p.watts }))
    const events = await collect({ trace: epoch, pulsesPerKwh: 1000 }, 60_000)
    expect(events.map(e => e.at - T0)).toEqual(expected)
  })

  it('reads a CSV file (header, comments, ISO times) at start', async () => {
    const file = join(tmp, 'trace.csv')
    writeFileSync(file, '# a street light\nat,watts\n2026-01-01T18:00:00.000Z,3600\n\n2026-01-01T18:00:05.000Z, 7200\n2026-01-01T18:00:10Z,0\n')
    const events = await collect({ trace: file, pulsesPerKwh: 1000 }, 60_000)
    expect(events.map(e => e.at - T0)).toEqual(expected)
  })

  it('rejects a bad CSV at start, naming the file and line', async () => {
    const file = join(tmp, 'bad.csv')
    writeFileSync(file, 'at,watts\n0,100\n1000,lots\n')
    const source = simulatedSource({ trace: file, pulsesPerKwh: 1000 })
    await expect(source.start(() => {})).rejects.toThrow(`${file}:3: expected "<at ms or ISO time>,<watts >= 0>", got "1000,lots"`)
    await expect(simulatedSource({ trace: join(tmp, 'missing.csv'), pulsesPerKwh: 1000 }).start(() => {})).rejects.toThrow(/ENOENT/)
    expect(() => parseTrace('at,watts\n', 'empty.csv')).toThrow('empty.csv: no "<at>,<watts>" rows')
    expect(() => parseTrace('0,5\n10,-1\n', 'neg.csv')).toThrow(/neg\.csv:2/)
    expect(() => parseTrace('10,5\n0,5\n', 'order.csv')).toThrow(/order\.csv\[1\]\.at must not be before the point before it \(10\), got 0/)
  })

  it('with maxPowerW, flags pulses the circuit could not carry and counts the rest', async () => {
    const spike = [{ at: 0, watts: 3600 }, { at: 2000, watts: 36_000 }, { at: 3000, watts: 3600 }, { at: 6000, watts: 0 }]
    const events = await collect({ trace: spike, pulsesPerKwh: 1000, maxPowerW: 10_000 }, 60_000)
    expect(events.filter(e => e.type === 'fault').length).toBe(10) // 2100..3000 ms: 10 pulses 100 ms apart
    expect(events.filter(e => e.type === 'fault').every(e => e.type === 'fault' && e.reason === 'implausible-rate')).toBe(true)
    expect(events.filter(e => e.type === 'pulse').map(e => e.at - T0)).toEqual([1000, 2000, 4000, 5000, 6000])
  })
})

describe('simulatedSource options', () => {
  it('names what is wrong', () => {
    const s = simulatedSource as (o: unknown) => unknown
    expect(() => s({ powerW: 100 })).toThrow(new TypeError('pulsesPerKwh must be a finite number > 0, got undefined'))
    expect(() => s({ powerW: 100, pulsesPerKwh: -5 })).toThrow(new RangeError('pulsesPerKwh must be a finite number > 0, got -5'))
    expect(() => s({ pulsesPerKwh: 1000 })).toThrow(/exactly one of powerW \(watts\) or trace/)
    expect(() => s({ powerW: 1, trace: [], pulsesPerKwh: 1000 })).toThrow(TypeError)
    expect(() => s({ powerW: -1, pulsesPerKwh: 1000 })).toThrow(new RangeError('powerW must be a finite number >= 0, got -1'))
    expect(() => s({ trace: [], pulsesPerKwh: 1000 })).toThrow(/trace must hold at least one/)
    expect(() => s({ trace: [{ at: 0, watts: 1 }, { at: 'x', watts: 1 }], pulsesPerKwh: 1000 })).toThrow(/trace\[1\]\.at must be a finite number, got "x"/)
    expect(() => s({ trace: 42, pulsesPerKwh: 1000 })).toThrow(/trace must be an array of \{ at, watts \} or the path of a CSV file, got 42/)
    expect(() => s({ powerW: 1, pulsesPerKwh: 1000, clock: {} })).toThrow(/simulatedSource\.clock must be an object with a now\(\) method/)
    expect(() => s({ powerW: 1, pulsesPerKwh: 1000, setTimer: 5 })).toThrow(/simulatedSource\.setTimer must be a function/)
    expect(() => s({ powerW: 1, pulsesPerKwh: 1000, maxPowerW: 0 })).toThrow(/maxPowerW must be a finite number > 0/)
  })
})
