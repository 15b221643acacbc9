/**
 * Debounce and the rate guard, on synthetic pulse trains: contact bounce on both edges, noise spikes
 * between pulses, stuck lines and missing edges must give exactly the right counts.
 */
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { Debouncer, RateGuard, type Debounce, type PulseEvent } from '../src/io/pulses.ts'

const D: Debounce = { minWidthMs: 15, minIntervalMs: 50, stuckMs: 10_000 }

type Edge = [number, 0 | 1]

/**
 * A train of `n` pulses `period` ms apart, `width` ms wide, each edge bouncing `bounces[k]` times
 * (a bounce = a flip and a flip back, each 0.05-0.8 ms), with noise spikes (0.05-2 ms) in the gaps.
 */
function train (o: { n: number, period: number, width: number, bounces: number[], spikes: number[], jitter: number[] }): Edge[] {
  const edges: Edge[] = []
  let j = 0
  const step = (): number => 0.05 + (o.jitter[j++ % o.jitter.length]! * 0.75)
  for (let k = 0; k < o.n; k++) {
    let t = 1000 + k * o.period
    const b = o.bounces[k % o.bounces.length]!
    edges.push([t, 1])
    for (let i = 0; i < b; i++) { t += step(); edges.push([t, 0]); t += step(); edges.push([t, 1]) }
    t = 1000 + k * o.period + o.width
    edges.push([t, 0])
    for (let i = 0; i < b; i++) { t += step(); edges.push([t, 1]); t += step(); edges.push([t, 0]) }
    const spikes = o.spikes[k % o.spikes.length]!
    for (let i = 0; i < spikes; i++) {
      const s = t + 10 + i * 7
      edges.push([s, 1], [s + 0.05 + (o.jitter[j++ % o.jitter.length]! * 1.95), 0])
    }
  }
  return edges
}

function run (d: Debouncer, edges: Edge[], checkEveryMs?: number): PulseEvent[] {
  const out: PulseEvent[] = []
  let nextCheck = checkEveryMs === undefined ? Infinity : (edges[0]?.[0] ?? 0) + checkEveryMs
  for (const [at, level] of edges) {
    while (nextCheck <= at) {
      const f = d.check(nextCheck)
      if (f !== undefined) out.push(f)
      nextCheck += checkEveryMs!
    }
    const e = d.edge(at, level)
    if (e !== undefined) out.push(e)
  }
  return out
}

describe('Debouncer', () => {
  it('counts each bouncing pulse once, at the start of its steady run', () => {
    const edges = train({ n: 3, period: 200, width: 40, bounces: [3], spikes: [0], jitter: [0.5] })
    const out = run(new Debouncer(D), edges)
    expect(out.map(e => e.type)).toEqual(['pulse', 'pulse', 'pulse'])
    // the last rising edge of each leading bounce: 3 bounces of 2 × 0.425 ms
    const expected = [1000, 1200, 1400].map(t => t + 3 * 0.85)
    out.forEach((e, i) => expect(e.at).toBeCloseTo(expected[i]!, 9))
  })

  it('gives the exact count for any train with bounce and noise spikes (property)', () => {
    fc.assert(fc.property(
      fc.record({
        n: fc.integer({ min: 0, max: 40 }),
        period: fc.integer({ min: 100, max: 2000 }),
        width: fc.integer({ min: 30, max: 80 }),
        bounces: fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 10 }),
        spikes: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 10 }),
        jitter: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 20 })
      }),
      o => {
        const out = run(new Debouncer(D), train(o), 1000)
        expect(out.filter(e => e.type === 'fault')).toEqual([])
        expect(out.length).toBe(o.n)
      }
    ), { numRuns: 300 })
  })

  it('ignores runs shorter than minWidthMs and pulses closer than minIntervalMs', () => {
    const d = new Debouncer(D)
    expect(d.edge(0, 1)).toBeUndefined()
    expect(d.edge(14.9, 0)).toBeUndefined() // too narrow
    expect(d.edge(100, 1)).toBeUndefined()
    expect(d.edge(120, 0)).toEqual({ type: 'pulse', at: 100 })
    expect(d.edge(140, 1)).toBeUndefined() // a wide glitch 40 ms after the pulse began
    expect(d.edge(160, 0)).toBeUndefined()
    expect(d.edge(150 + 100, 1)).toBeUndefined()
    expect(d.edge(270, 0)).toEqual({ type: 'pulse', at: 250 })
  })

  it('reports a line stuck active once, counts nothing for it, and counts again after', () => {
    const before = train({ n: 5, period: 500, width: 40, bounces: [2], spikes: [1], jitter: [0.3, 0.9] })
    const t = before.at(-1)![0] + 500
    const stuck: Edge[] = [[t, 1], [t + 60_000, 0]]
    const after = train({ n: 4, period: 500, width: 40, bounces: [1], spikes: [0], jitter: [0.7] })
      .map(([at, l]): Edge => [at + t + 61_000, l])
    const out = run(new Debouncer(D), [...before, ...stuck, ...after], 250)
    expect(out.filter(e => e.type === 'pulse')).toHaveLength(9)
    const faults = out.filter(e => e.type === 'fault')
    expect(faults).toHaveLength(1)
    expect(faults[0]).toMatchObject({ reason: 'stuck' })
    expect(faults[0]!.at).toBeGreaterThan(t + 10_000) // at the first check() past stuckMs
    expect(faults[0]!.at).toBeLessThanOrEqual(t + 10_250)
    expect((faults[0] as { detail: string }).detail).toMatch(/active for 10\d\d\d ms, longer than stuckMs 10000 ms: counted nothing/)
  })

  it('reports a stuck run at its falling edge when check() was not called in time', () => {
    const d = new Debouncer(D)
    d.edge(0, 1)
    expect(d.edge(10_001, 0)).toMatchObject({ type: 'fault', reason: 'stuck', at: 10_001 })
    d.edge(20_000, 1)
    expect(d.edge(20_030, 0)).toEqual({ type: 'pulse', at: 20_000 })
  })

  it('a run of exactly stuckMs still counts; check() reports only beyond it', () => {
    const d = new Debouncer(D)
    d.edge(0, 1)
    expect(d.check(10_000)).toBeUndefined()
    expect(d.edge(10_000, 0)).toEqual({ type: 'pulse', at: 0 })
    expect(d.check(99_999)).toBeUndefined() // inactive lines are never stuck here
  })

  it('drops a run whose falling edge was missed, and ignores a falling edge while inactive', () => {
    const d = new Debouncer(D)
    expect(d.edge(0, 0)).toBeUndefined() // first edge falling: nothing to end
    expect(d.edge(100, 1)).toBeUndefined()
    expect(d.activeSince).toBe(100)
    expect(d.edge(400, 1)).toBeUndefined() // rising again: a falling edge was lost
    expect(d.activeSince).toBe(400)
    expect(d.edge(430, 0)).toEqual({ type: 'pulse', at: 400 })
    expect(d.edge(440, 0)).toBeUndefined()
  })

  it('drops the current run when time goes backwards', () => {
    const d = new Debouncer(D)
    d.edge(1000, 1)
    expect(d.edge(990, 0)).toBeUndefined()
    d.edge(2000, 1)
    expect(d.edge(2020, 0)).toEqual({ type: 'pulse', at: 2000 })
  })

  it('rejects bad settings and edges, naming them', () => {
    expect(() => new Debouncer({ minWidthMs: -1, minIntervalMs: 0, stuckMs: 10 })).toThrow(RangeError)
    expect(() => new Debouncer({ minWidthMs: -1, minIntervalMs: 0, stuckMs: 10 })).toThrow(/debounce\.minWidthMs must be a finite number >= 0, got -1/)
    expect(() => new Debouncer({ minWidthMs: 20, minIntervalMs: 0, stuckMs: 20 })).toThrow(/debounce\.stuckMs must be a finite number > 20/)
    expect(() => new Debouncer({ minWidthMs: 1, minIntervalMs: NaN, stuckMs: 20 })).toThrow(/debounce\.minIntervalMs/)
    expect(() => new Debouncer(undefined as unknown as Debounce)).toThrow(TypeError)
    expect(() => new Debouncer({ minWidthMs: '5', minIntervalMs: 0, stuckMs: 20 } as unknown as Debounce)).toThrow(TypeError)
    const d = new Debouncer(D)
    expect(() => d.edge(Number.NaN, 1)).toThrow(/Debouncer\.edge at must be a finite number/)
    expect(() => d.edge(1, 2 as 0 | 1)).toThrow(/level must be 0 or 1, got 2/)
  })
})

describe('RateGuard', () => {
  // 1000 pulses/kWh at 10 kW: one pulse (3.6e6 W·ms) every 360 ms at most
  const options = { pulsesPerKwh: 1000, maxPowerW: 10_000 }

  it('accepts pulses at or below maxPowerW', () => {
    const g = new RateGuard(options)
    expect(g.minIntervalMs).toBe(360)
    expect([0, 360, 1000, 1400].map(t => g.accept(t).type)).toEqual(['pulse', 'pulse', 'pulse', 'pulse'])
  })

  it('flags a pulse faster than maxPowerW allows, naming the power it implies', () => {
    const g = new RateGuard(options)
    g.accept(0)
    const f = g.accept(180)
    expect(f).toMatchObject({ type: 'fault', reason: 'implausible-rate', at: 180 })
    expect((f as { detail: string }).detail).toMatch(/180 ms apart mean 20000 W, above maxPowerW 10000 W at 1000 pulses\/kWh/)
  })

  it('counts nothing of a sustained too-fast train, and counts again at the first plausible interval', () => {
    const g = new RateGuard(options)
    const times = [0, ...Array.from({ length: 20 }, (_, i) => 100 + i * 200), 3900 + 400, 4300 + 360]
    const out = times.map(t => g.accept(t).type)
    expect(out.filter(t => t === 'pulse')).toHaveLength(3) // the first, and the two after the burst
    expect(out.slice(1, 21).every(t => t === 'fault')).toBe(true)
  })

  it('flags a pulse not after the previous one', () => {
    const g = new RateGuard(options)
    g.accept(1000)
    expect(g.accept(1000)).toMatchObject({ reason: 'implausible-rate', detail: expect.stringMatching(/not after the previous pulse/) })
    expect(g.accept(500)).toMatchObject({ reason: 'implausible-rate' })
  })

  it('rejects bad options', () => {
    expect(() => new RateGuard({ pulsesPerKwh: 0, maxPowerW: 1 })).toThrow(/pulsesPerKwh must be a finite number > 0, got 0/)
    expect(() => new RateGuard({ pulsesPerKwh: 1000, maxPowerW: Infinity })).toThrow(RangeError)
    expect(() => new RateGuard({ pulsesPerKwh: 1000 } as { pulsesPerKwh: number, maxPowerW: number })).toThrow(/maxPowerW must be a finite number > 0, got undefined/)
    expect(() => new RateGuard(null as unknown as { pulsesPerKwh: number, maxPowerW: number })).toThrow(TypeError)
  })
})
