/**
 * Recent use: Wh per day over a trailing window from what was recorded, days remaining, persistence,
 * and the low-balance warnings.
 */
import { describe, expect, it } from 'vitest'
import { lowBalanceWarnings, UsageEstimator } from '../src/policy/usage.ts'

const H = 3_600_000
const DAY = 24 * H
const NOW = Date.UTC(2026, 5, 15, 12)

/** Records `whPerDay` spread over every hour of [from, until). */
function use (u: UsageEstimator, from: number, until: number, whPerDay: number): void {
  for (let t = from; t < until; t += H) u.record(t + H / 2, whPerDay / 24)
}

describe('policy: usage', () => {
  it('has no estimate without history or with less than minSpanMs observed', () => {
    const u = new UsageEstimator()
    expect(u.whPerDay(NOW)).toBeNull()
    expect(u.daysRemaining(10_000, NOW)).toBeNull()
    use(u, NOW - 12 * H, NOW, 2_400)
    expect(u.whPerDay(NOW)).toBeNull() // half a day observed, a day needed by default
    expect(new UsageEstimator({ minSpanMs: 6 * H }).whPerDay(NOW)).toBeNull()
    const short = new UsageEstimator({ minSpanMs: 6 * H })
    use(short, NOW - 12 * H, NOW, 2_400)
    expect(short.whPerDay(NOW)).toBeCloseTo(2_400 * (12 * H) / (11.5 * H), 6) // observed since the first record
  })

  it('averages a week of use into Wh per day and days remaining', () => {
    const u = new UsageEstimator()
    u.record(NOW - 7 * DAY, 0) // observation started a week ago
    use(u, NOW - 7 * DAY, NOW, 2_000)
    expect(u.whPerDay(NOW)).toBeCloseTo(2_000, 6)
    // Without that record, observation counts from the first pulse, half an hour later.
    const v = new UsageEstimator()
    use(v, NOW - 7 * DAY, NOW, 2_000)
    expect(v.whPerDay(NOW)).toBeCloseTo(14_000 / (7 - 1 / 48), 6)
    expect(u.daysRemaining(10_000, NOW)).toBeCloseTo(5, 6)
    expect(u.daysRemaining(0, NOW)).toBe(0)
    expect(u.daysRemaining(-5, NOW)).toBe(0)
  })

  it('uses what was recorded when there is less than the window, and forgets what is older than it', () => {
    const u = new UsageEstimator()
    u.record(NOW - 2 * DAY, 0) // the agent started two days ago
    use(u, NOW - 2 * DAY, NOW, 3_000)
    expect(u.whPerDay(NOW)).toBeCloseTo(3_000, 6)
    // Two weeks: a heavy first week, a light second one. Only the last week counts.
    const w = new UsageEstimator()
    use(w, NOW - 14 * DAY, NOW - 7 * DAY, 8_000)
    use(w, NOW - 7 * DAY, NOW, 1_000)
    expect(w.whPerDay(NOW)).toBeCloseTo(1_000, 6)
    expect(w.toJSON().buckets.length).toBeLessThanOrEqual(7 * 24 + 1)
    // A shorter window follows recent use more closely.
    const d = new UsageEstimator({ windowMs: DAY, minSpanMs: 6 * H })
    use(d, NOW - 3 * DAY, NOW - DAY, 8_000)
    use(d, NOW - DAY, NOW, 1_000)
    expect(d.whPerDay(NOW)).toBeCloseTo(1_000, 6)
    // Records out of order and older than the window.
    const o = new UsageEstimator({ minSpanMs: H })
    o.record(NOW, 0)
    o.record(NOW - 3 * H, 300)
    o.record(NOW - 8 * DAY, 1_000_000) // dropped
    expect(o.whPerDay(NOW)).toBeCloseTo(300 * DAY / (3 * H), 6)
  })

  it('says nothing about days remaining when nothing was used', () => {
    const u = new UsageEstimator()
    u.record(NOW - 3 * DAY, 0)
    expect(u.whPerDay(NOW)).toBe(0)
    expect(u.daysRemaining(10_000, NOW)).toBeNull()
  })

  it('round-trips through JSON, and rejects malformed JSON and options with a RangeError naming them', () => {
    const u = new UsageEstimator({ windowMs: 3 * DAY, minSpanMs: H })
    use(u, NOW - 4 * DAY, NOW, 1_500)
    const json = JSON.parse(JSON.stringify(u)) as unknown
    const back = UsageEstimator.fromJSON(json)
    expect(back.toJSON()).toEqual(u.toJSON())
    expect(back.whPerDay(NOW)).toBe(u.whPerDay(NOW))
    expect(UsageEstimator.fromJSON(json, { windowMs: DAY }).whPerDay(NOW)).toBeCloseTo(1_500, 6)
    expect(UsageEstimator.fromJSON(new UsageEstimator().toJSON()).whPerDay(NOW)).toBeNull()
    const good = u.toJSON()
    const bad: Array<[unknown, RegExp]> = [
      [null, /object/],
      [{ ...good, windowMs: -1 }, /windowMs/],
      [{ ...good, bucketMs: 'hour' }, /bucketMs/],
      [{ ...good, since: 'yesterday' }, /since/],
      [{ ...good, since: null }, /since/],
      [{ ...good, buckets: {} }, /buckets/],
      [{ ...good, buckets: [[NOW, -1]] }, /buckets\[0\]\[1\]/],
      [{ ...good, buckets: [[NOW, 1], [Number.NaN, 1]] }, /buckets\[1\]\[0\]/]
    ]
    for (const [j, message] of bad) expect(() => UsageEstimator.fromJSON(j)).toThrow(message)
    expect(() => new UsageEstimator({ windowMs: 0 })).toThrow(/windowMs/)
    expect(() => new UsageEstimator({ bucketMs: 8 * DAY })).toThrow(/bucketMs/)
    expect(() => new UsageEstimator({ minSpanMs: 8 * DAY })).toThrow(/minSpanMs/)
    expect(() => new UsageEstimator().record(NOW, -1)).toThrow(/wh/)
    expect(() => new UsageEstimator().record(Number.NaN, 1)).toThrow(RangeError)
  })

  it('warns at each threshold the balance is at or below, lowest first', () => {
    expect(lowBalanceWarnings(6_000, [5_000, 1_000])).toEqual([])
    expect(lowBalanceWarnings(1_000, [5_000, 1_000, 1_000])).toEqual([{ thresholdWh: 1_000, usableWh: 1_000 }, { thresholdWh: 5_000, usableWh: 1_000 }])
    expect(lowBalanceWarnings(0, [])).toEqual([])
  })
})
