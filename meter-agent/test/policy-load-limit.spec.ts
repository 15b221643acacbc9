/**
 * The load limit: power from the pulse rate, a trip after the grace period, the back-off, and the
 * relay decision that follows. 1,000 pulses per kWh: a pulse every 1.2 s is 3,000 W, every 7.2 s 500 W.
 */
import { describe, expect, it } from 'vitest'
import type { DeviceFundsView } from '@microgrid/core'
import { LoadLimiter, type LoadLimitOptions } from '../src/policy/load-limit.ts'
import { decideRelay } from '../src/policy/relay-policy.ts'
import { UsageEstimator } from '../src/policy/usage.ts'

const T = Date.UTC(2026, 5, 15, 12)
const options: LoadLimitOptions = { limitW: 2_000, graceMs: 10_000, backoffMs: 60_000, pulsesPerKwh: 1_000 }
/** Pulse interval (ms) of a steady load at 1,000 pulses per kWh. */
const every = (watts: number): number => 3_600_000 / watts

/** Feeds a steady load's pulses in [from, until) and returns the time of the next pulse. */
function train (limiter: LoadLimiter, from: number, until: number, watts: number, poll = false): number {
  let t = from
  for (; t < until; t += every(watts)) {
    if (poll) limiter.state(t - 1)
    limiter.pulse(t)
  }
  return t
}

describe('policy: load limit', () => {
  it('estimates power from the pulse rate, and lets it fall when pulses stop', () => {
    const l = new LoadLimiter(options)
    expect(l.watts(T)).toBe(0)
    train(l, T, T + 30_000, 1_000) // a pulse every 3.6 s
    const last = T + 8 * 3_600
    expect(l.watts(last)).toBeCloseTo(1_000, 6)
    expect(l.watts(last + 3_600)).toBeCloseTo(1_000, 6)
    expect(l.watts(last + 7_200)).toBeCloseTo(500, 6) // overdue: at most one pulse in 7.2 s
    const one = new LoadLimiter(options)
    one.pulse(T)
    expect(one.watts(T)).toBeCloseTo(60, 6) // one pulse (3,600 J) over the 60 s window
    expect(one.windowMs).toBe(60_000)
  })

  it('a pulse train above the limit trips the relay after the grace period and restores it after the back-off', () => {
    const l = new LoadLimiter(options)
    // 3,000 W from T: the second pulse (T + 1.2 s) shows it.
    const over = T + 1_200
    const end = train(l, T, over + 10_000, 3_000)
    expect(l.state(over + 9_999)).toEqual({ tripped: false, tripAt: over + 10_000 })
    expect(l.state(over + 10_000)).toEqual({ tripped: true, since: over + 10_000, until: over + 70_000, watts: 3_000, limitW: 2_000 })
    // The relay is off: no pulses. It stays tripped for the back-off, then comes back.
    expect(l.state(over + 69_999).tripped).toBe(true)
    expect(l.state(over + 70_000)).toEqual({ tripped: false })
    expect(end).toBeGreaterThan(over + 10_000)
    // A normal load after that never trips.
    train(l, over + 70_000, over + 400_000, 500)
    expect(l.state(over + 400_000)).toEqual({ tripped: false })
    expect(l.watts(over + 400_000)).toBeGreaterThan(400)
  })

  it('trips at the same moment however often the caller asks', () => {
    const rare = new LoadLimiter(options)
    const often = new LoadLimiter(options)
    train(rare, T, T + 30_000, 3_000)
    train(often, T, T + 30_000, 3_000, true)
    const a = rare.state(T + 30_000)
    expect(a).toEqual(often.state(T + 30_000))
    expect(a).toMatchObject({ tripped: true, since: T + 11_200 })
  })

  it('does not trip on a spike shorter than the grace period, nor when the load stops within it', () => {
    const spike = new LoadLimiter(options)
    const t = train(spike, T, T + 8_000, 3_000)
    train(spike, t, T + 120_000, 500)
    expect(spike.state(T + 120_000)).toEqual({ tripped: false })
    const stop = new LoadLimiter(options)
    train(stop, T, T + 6_000, 3_000) // last pulse at T + 4.8 s
    expect(stop.state(T + 6_000)).toMatchObject({ tripped: false, tripAt: T + 11_200 })
    expect(stop.state(T + 30_000)).toEqual({ tripped: false }) // no pulse 1.8 s after the last: below the limit
    // Just under the limit never trips.
    const under = new LoadLimiter(options)
    train(under, T, T + 300_000, 1_990)
    expect(under.state(T + 300_000)).toEqual({ tripped: false })
  })

  it('trips again after the back-off if the load is still too high', () => {
    const l = new LoadLimiter({ ...options, graceMs: 0 })
    train(l, T, T + 1_201, 3_000)
    expect(l.state(T + 1_200)).toMatchObject({ tripped: true, since: T + 1_200, until: T + 61_200 })
    // A relay that did not open: pulses go on during the back-off but start no new trip until it ends.
    train(l, T + 2_400, T + 61_200, 3_000)
    expect(l.state(T + 61_199)).toMatchObject({ tripped: true, since: T + 1_200 })
    expect(l.watts(T + 61_199)).toBeCloseTo(3_000, 6)
    l.pulse(T + 61_200)
    expect(l.state(T + 61_200)).toMatchObject({ tripped: true, since: T + 61_200, until: T + 121_200 })
  })

  it('feeds the relay decision: off with the watts while tripped (even in friendly-credit hours), on again when funded after the back-off', () => {
    const l = new LoadLimiter(options)
    const funds: DeviceFundsView = {
      device: new Uint8Array(33), at: T, registered: true, usableNow: 9_000, general: 9_000, windows: [], funders: [], burned: 0, balance: 9_000, nextChange: null
    }
    const policy = { friendlyCreditHours: Array.from({ length: 24 }, (_, h) => h), timeZone: 'UTC' }
    const decide = (now: number): ReturnType<typeof decideRelay> => decideRelay({ now, funds, burnedSinceWh: 0, load: l.state(now), usage: new UsageEstimator() }, policy)
    const t = train(l, T, T + 5_000, 3_000)
    expect(decide(t)).toMatchObject({ on: true, reason: 'funded', nextChange: T + 11_200 })
    train(l, t, T + 12_000, 3_000)
    expect(decide(T + 12_000)).toMatchObject({ on: false, reason: 'load-limit', watts: 3_000, nextChange: T + 71_200, usableWh: 9_000 })
    expect(decide(T + 71_200)).toMatchObject({ on: true, reason: 'funded', watts: null, nextChange: null })
  })

  it('survives a clock stepped back: history forgotten, a trip lasts its back-off from the earlier time', () => {
    const l = new LoadLimiter({ ...options, graceMs: 0 })
    train(l, T, T + 1_201, 3_000)
    expect(l.state(T + 5_000)).toMatchObject({ tripped: true, until: T + 61_200 })
    expect(l.state(T - 3_600_000)).toMatchObject({ tripped: true, since: T - 3_600_000, until: T - 3_540_000 })
    expect(l.state(T - 3_540_000)).toEqual({ tripped: false })
  })

  it('rejects malformed options with a RangeError naming them', () => {
    const bad: Array<[Partial<LoadLimitOptions>, RegExp]> = [
      [{ limitW: 0 }, /limitW/],
      [{ limitW: Number.POSITIVE_INFINITY }, /limitW/],
      [{ graceMs: -1 }, /graceMs/],
      [{ backoffMs: 0 }, /backoffMs/],
      [{ pulsesPerKwh: Number.NaN }, /pulsesPerKwh/],
      [{ windowMs: 3_000 }, /windowMs/] // two pulses at 2,000 W take 3.6 s
    ]
    for (const [o, message] of bad) expect(() => new LoadLimiter({ ...options, ...o })).toThrow(message)
    for (const [o] of bad) expect(() => new LoadLimiter({ ...options, ...o })).toThrow(RangeError)
    // Few pulses per kWh: the default window grows to hold three pulses at the limit.
    expect(new LoadLimiter({ ...options, pulsesPerKwh: 10, limitW: 1_000 }).windowMs).toBe(1_080_000)
    expect(() => new LoadLimiter(options).pulse(Number.NaN)).toThrow(/at/)
  })
})
