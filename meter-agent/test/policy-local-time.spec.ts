/**
 * The grid's local time through Intl alone: offsets, hour boundaries and the first instant of a local
 * date, across daylight-saving transitions (including one at midnight and a half-hour zone).
 */
import { describe, expect, it } from 'vitest'
import { localDate, localParts, nextLocalBoundary, offsetAt, startOfLocalDate } from '../src/policy/local-time.ts'

const H = 3_600_000
const NY = 'America/New_York'
const LISBON = 'Europe/Lisbon'

describe('policy: local time', () => {
  it('reads the local hour, date and offset in a zone', () => {
    const t = Date.UTC(2026, 5, 15, 3, 30) // 23:30 on the 14th in New York (EDT)
    expect(localParts(t, NY)).toEqual({ year: 2026, month: 6, day: 14, hour: 23, minute: 30, second: 0 })
    expect(localDate(t, NY)).toBe('2026-06-14')
    expect(offsetAt(t, NY)).toBe(-4 * H)
    expect(offsetAt(Date.UTC(2026, 0, 15), NY)).toBe(-5 * H)
    expect(offsetAt(Date.UTC(2026, 0, 15, 12, 0, 0, 123), 'Asia/Kolkata')).toBe(5.5 * H)
    expect(localParts(Date.UTC(2026, 0, 1), 'UTC').hour).toBe(0) // midnight is hour 0, never 24
  })

  it('agrees with Intl minute by minute across daylight-saving transitions, including one in the middle of a UTC hour', () => {
    const cases: Array<[string, number]> = [
      [NY, Date.UTC(2026, 2, 8)], [NY, Date.UTC(2026, 10, 1)], [LISBON, Date.UTC(2026, 2, 29)], [LISBON, Date.UTC(2026, 9, 25)],
      // Lord Howe moves by half an hour, to +11:00 at 15:30 UTC on 2026-10-03; Santiago at midnight.
      ['Australia/Lord_Howe', Date.UTC(2026, 9, 3)], ['Australia/Lord_Howe', Date.UTC(2026, 3, 4)], ['America/Santiago', Date.UTC(2026, 8, 5)]
    ]
    for (const [zone, day] of cases) {
      const intl = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' })
      for (let t = day - 12 * H; t < day + 36 * H; t += 60_000 + 7) {
        const p: Record<string, number> = {}
        for (const part of intl.formatToParts(t)) if (part.type !== 'literal') p[part.type] = Number(part.value)
        expect(localParts(t, zone)).toEqual(p)
      }
    }
  })

  it('finds the next local hour, and daylight-saving transitions between hours', () => {
    // New York, spring forward on 2026-03-08: 01:59:59 EST is followed by 03:00 EDT (07:00 UTC).
    expect(nextLocalBoundary(Date.UTC(2026, 2, 8, 6, 30), NY)).toBe(Date.UTC(2026, 2, 8, 7))
    expect(localParts(Date.UTC(2026, 2, 8, 7), NY).hour).toBe(3)
    // Fall back on 2026-11-01: 01:59:59 EDT is followed by 01:00 EST (06:00 UTC), then 02:00 EST.
    expect(nextLocalBoundary(Date.UTC(2026, 10, 1, 5, 30), NY)).toBe(Date.UTC(2026, 10, 1, 6))
    expect(nextLocalBoundary(Date.UTC(2026, 10, 1, 6), NY)).toBe(Date.UTC(2026, 10, 1, 7))
    // Lisbon, fall back on 2026-10-25 at 01:00 UTC (02:00 WEST -> 01:00 WET).
    expect(nextLocalBoundary(Date.UTC(2026, 9, 25, 0, 30), LISBON)).toBe(Date.UTC(2026, 9, 25, 1))
    // Lord Howe: 02:00 +10:30 is followed by 02:30 +11:00 (15:30 UTC), in the middle of a UTC hour.
    expect(nextLocalBoundary(Date.UTC(2026, 9, 3, 15, 0), 'Australia/Lord_Howe')).toBe(Date.UTC(2026, 9, 3, 15, 30))
    expect(localParts(Date.UTC(2026, 9, 3, 15, 30), 'Australia/Lord_Howe')).toMatchObject({ hour: 2, minute: 30 })
    expect(nextLocalBoundary(Date.UTC(2026, 9, 3, 15, 30), 'Australia/Lord_Howe')).toBe(Date.UTC(2026, 9, 3, 16))
    // A half-hour zone: local hours start at half past UTC hours.
    expect(nextLocalBoundary(Date.UTC(2026, 0, 1, 0, 0), 'Asia/Kolkata')).toBe(Date.UTC(2026, 0, 1, 0, 30))
    // From exactly a boundary, the next one.
    expect(nextLocalBoundary(Date.UTC(2026, 0, 1, 5), 'UTC')).toBe(Date.UTC(2026, 0, 1, 6))
  })

  it('finds the first instant of a local date, also when a transition skips midnight', () => {
    expect(startOfLocalDate('2026-11-01', NY)).toBe(Date.UTC(2026, 10, 1, 4)) // 00:00 EDT
    expect(startOfLocalDate('2026-11-02', NY)).toBe(Date.UTC(2026, 10, 2, 5)) // 00:00 EST: the 1st lasts 25 hours
    expect(startOfLocalDate('2026-03-29', LISBON)).toBe(Date.UTC(2026, 2, 29, 0))
    expect(startOfLocalDate('2026-03-30', LISBON)).toBe(Date.UTC(2026, 2, 29, 23))
    // Santiago springs forward at midnight: 2026-09-06 starts at 01:00 -03 (04:00 UTC).
    expect(startOfLocalDate('2026-09-06', 'America/Santiago')).toBe(Date.UTC(2026, 8, 6, 4))
    expect(startOfLocalDate('2026-01-01', 'Pacific/Kiritimati')).toBe(Date.UTC(2025, 11, 31, 10)) // UTC+14
  })
})
