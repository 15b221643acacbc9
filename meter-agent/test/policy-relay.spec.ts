/**
 * The relay's decision: funded, empty, funding windows, friendly-credit hours and holidays in the
 * grid's local time (daylight saving included), the load limit's precedence, low-balance warnings,
 * days remaining, when the decision next changes, and malformed options. The last tests build real
 * funds views with `fundsOf` over an island's ledger.
 */
import { describe, expect, it } from 'vitest'
import type { OpSigner } from '@microgrid/protocol'
import { fundsOf, type DeviceFundsView, type FundingView } from '@microgrid/core'
import { Island, RETAIL_PRICE, WHOLESALE_PRICE } from '@microgrid/core/testing'
import { checkRelayPolicyOptions, decideRelay, type RelayInput, type RelayPolicyOptions } from '../src/policy/relay-policy.ts'
import { UsageEstimator } from '../src/policy/usage.ts'

const H = 3_600_000
const DAY = 24 * H
const PR = 'America/Puerto_Rico' // UTC-4 all year
/** Local time in Puerto Rico on 2026-06-15 (or another day) as an instant. */
const pr = (hour: number, minute = 0, day = 15, month = 6): number => Date.UTC(2026, month - 1, day, hour + 4, minute)

type WindowSpec = Partial<FundingView> & { from: number, until: number, remaining: number }

/** A funds view as a full node would send it, built by hand. */
function view (at: number, general: number, windows: WindowSpec[] = []): DeviceFundsView {
  const ws: FundingView[] = windows.map(w => ({
    funder: new Uint8Array(33).fill(2),
    state: at < w.from ? 'upcoming' : at < w.until ? 'open' : 'ended',
    declared: true,
    ...w
  }))
  const usableNow = general + ws.filter(w => w.state === 'open').reduce((s, w) => s + w.remaining, 0)
  return {
    device: new Uint8Array(33).fill(3), at, registered: true, usableNow, general, windows: ws, funders: [], burned: 0, balance: usableNow, nextChange: null
  }
}

const opts: RelayPolicyOptions = { friendlyCreditHours: [], timeZone: PR }

function input (now: number, funds: DeviceFundsView | null, more: Partial<RelayInput> = {}): RelayInput {
  return { now, funds, burnedSinceWh: 0, load: { tripped: false }, usage: new UsageEstimator(), ...more }
}

describe('policy: relay decision', () => {
  it('is on while funds are usable, off at zero, and off with no-data before any view was learned', () => {
    const funded = decideRelay(input(pr(12), view(pr(9), 5_000)), opts)
    expect(funded).toEqual({ at: pr(12), on: true, reason: 'funded', usableWh: 5_000, warnings: [], daysRemaining: null, nextChange: null, watts: null })
    // Burned locally since the view was taken, not in the ledger yet.
    expect(decideRelay(input(pr(12), view(pr(9), 5_000), { burnedSinceWh: 4_000.5 }), opts)).toMatchObject({ on: true, usableWh: 999.5 })
    expect(decideRelay(input(pr(12), view(pr(9), 5_000), { burnedSinceWh: 5_000 }), opts)).toMatchObject({ on: false, reason: 'empty', usableWh: 0 })
    expect(decideRelay(input(pr(12), view(pr(9), 5_000), { burnedSinceWh: 7_000 }), opts)).toMatchObject({ on: false, reason: 'empty', usableWh: 0 })
    expect(decideRelay(input(pr(12), view(pr(9), 0)), opts)).toMatchObject({ on: false, reason: 'empty', usableWh: 0, nextChange: null })
    expect(decideRelay(input(pr(12), null), { ...opts, lowBalanceWh: [1_000] })).toEqual({
      at: pr(12), on: false, reason: 'no-data', usableWh: 0, warnings: [], daysRemaining: null, nextChange: null, watts: null
    })
  })

  it('a street light funded for 18:00-23:00 is on inside the window and off before and after it', () => {
    // The view was taken at noon, before the meter cited the funding: an upcoming, undeclared window.
    const funds = view(pr(12), 0, [{ from: pr(18), until: pr(23), remaining: 3_000, declared: false }])
    expect(funds.usableNow).toBe(0)
    const before = decideRelay(input(pr(17, 30), funds), opts)
    expect(before).toMatchObject({ on: false, reason: 'empty', usableWh: 0, nextChange: pr(18) })
    const inside = decideRelay(input(pr(19), funds), opts)
    expect(inside).toMatchObject({ on: true, reason: 'window', usableWh: 3_000, nextChange: pr(23) })
    expect(decideRelay(input(pr(18), funds), opts)).toMatchObject({ on: true, reason: 'window' }) // from is inclusive
    expect(decideRelay(input(pr(22, 30), funds, { burnedSinceWh: 1_200 }), opts)).toMatchObject({ on: true, reason: 'window', usableWh: 1_800 })
    expect(decideRelay(input(pr(22, 30), funds, { burnedSinceWh: 3_000 }), opts)).toMatchObject({ on: false, reason: 'empty', usableWh: 0, nextChange: null })
    const after = decideRelay(input(pr(23), funds), opts) // until is exclusive
    expect(after).toMatchObject({ on: false, reason: 'empty', usableWh: 0, nextChange: null })
    // A view taken after the window ended (state 'ended', what is left not returned yet) is not usable either.
    expect(decideRelay(input(pr(23, 30), view(pr(23, 10), 0, [{ from: pr(18), until: pr(23), remaining: 2_000 }])), opts)).toMatchObject({ on: false, reason: 'empty' })
  })

  it('a window over general funds: the window is burned first, general funds after it ends', () => {
    const funds = view(pr(12), 1_000, [{ from: pr(18), until: pr(23), remaining: 3_000 }])
    expect(decideRelay(input(pr(12), funds), opts)).toMatchObject({ on: true, reason: 'funded', usableWh: 1_000, nextChange: pr(18) })
    expect(decideRelay(input(pr(20), funds), opts)).toMatchObject({ on: true, reason: 'window', usableWh: 4_000, nextChange: pr(23) })
    expect(decideRelay(input(pr(20), funds, { burnedSinceWh: 3_500 }), opts)).toMatchObject({ on: true, reason: 'funded', usableWh: 500 })
    // Once the window has ended, local burns are taken from what is usable then, whenever they were
    // metered: the result never overstates (the 3,500 Wh may have included 1,000 burned before 18:00),
    // so the general funds count as gone until a fresh view says otherwise.
    expect(decideRelay(input(pr(20), funds, { burnedSinceWh: 3_500 }), opts).nextChange).toBe(pr(23))
    expect(decideRelay(input(pr(23), funds, { burnedSinceWh: 3_500 }), opts)).toMatchObject({ on: false, reason: 'empty', usableWh: 0 })
    expect(decideRelay(input(pr(23, 30), funds, { burnedSinceWh: 600 }), opts)).toMatchObject({ on: true, reason: 'funded', usableWh: 400 })
    // Two overlapping windows: the usable amount changes when the first ends, though the light stays on.
    const two = view(pr(12), 0, [{ from: pr(18), until: pr(20), remaining: 500 }, { from: pr(19), until: pr(23), remaining: 700 }])
    expect(decideRelay(input(pr(17), two), opts)).toMatchObject({ on: false, nextChange: pr(18) })
    expect(decideRelay(input(pr(18), two), opts)).toMatchObject({ usableWh: 500, nextChange: pr(19) })
    expect(decideRelay(input(pr(19), two), opts)).toMatchObject({ usableWh: 1_200, nextChange: pr(20) })
    expect(decideRelay(input(pr(20), two), opts)).toMatchObject({ usableWh: 700, nextChange: pr(23) })
    // A window emptied by local burns changes nothing when it ends.
    expect(decideRelay(input(pr(18, 30), two, { burnedSinceWh: 500 }), opts)).toMatchObject({ on: false, nextChange: pr(19) })
  })

  it('friendly-credit hours across midnight keep an empty account on, in the grid\'s local time', () => {
    const night: RelayPolicyOptions = { friendlyCreditHours: [22, 23, 0, 1, 2, 3, 4, 5], timeZone: PR }
    const empty = view(pr(9), 0)
    expect(decideRelay(input(pr(12), empty), night)).toMatchObject({ on: false, reason: 'empty', nextChange: pr(22) })
    expect(decideRelay(input(pr(21, 59), empty), night)).toMatchObject({ on: false, nextChange: pr(22) })
    expect(decideRelay(input(pr(22), empty), night)).toMatchObject({ on: true, reason: 'friendly-credit', usableWh: 0, nextChange: pr(6, 0, 16) })
    expect(decideRelay(input(pr(2, 0, 16), empty), night)).toMatchObject({ on: true, reason: 'friendly-credit', nextChange: pr(6, 0, 16) })
    expect(decideRelay(input(pr(6, 0, 16), empty), night)).toMatchObject({ on: false, reason: 'empty', nextChange: pr(22, 0, 16) })
    // No view yet: friendly credit still holds, and it is off with no-data outside it.
    expect(decideRelay(input(pr(23), null), night)).toMatchObject({ on: true, reason: 'friendly-credit' })
    expect(decideRelay(input(pr(12), null), night)).toMatchObject({ on: false, reason: 'no-data', nextChange: pr(22) })
    // Funded, the hours change nothing.
    expect(decideRelay(input(pr(23), view(pr(9), 10)), night)).toMatchObject({ on: true, reason: 'funded', nextChange: null })
    // Every hour friendly: on at zero for good.
    const always = { friendlyCreditHours: Array.from({ length: 24 }, (_, h) => h), timeZone: PR }
    expect(decideRelay(input(pr(12), empty), always)).toMatchObject({ on: true, reason: 'friendly-credit', nextChange: null })
    // The same instant in another zone.
    const t = Date.UTC(2026, 5, 15, 14) // 23:00 in Tokyo, 10:00 in Puerto Rico
    expect(decideRelay(input(t, empty), { ...night, timeZone: 'Asia/Tokyo' })).toMatchObject({ on: true, reason: 'friendly-credit', nextChange: Date.UTC(2026, 5, 15, 21) })
    expect(decideRelay(input(t, empty), night)).toMatchObject({ on: false, reason: 'empty', nextChange: Date.UTC(2026, 5, 16, 2) })
  })

  it('friendly-credit hours follow daylight saving: an hour skipped does not happen, an hour repeated lasts two', () => {
    const empty = view(Date.UTC(2026, 0, 1), 0)
    // Lisbon springs forward at 01:00 UTC on 2026-03-29 (01:00 WET -> 02:00 WEST): hour 1 never happens that day.
    const lisbon1: RelayPolicyOptions = { friendlyCreditHours: [1], timeZone: 'Europe/Lisbon' }
    expect(decideRelay(input(Date.UTC(2026, 2, 29, 0, 30), empty), lisbon1)).toMatchObject({ on: false, nextChange: Date.UTC(2026, 2, 30, 0) })
    // It falls back at 01:00 UTC on 2026-10-25 (02:00 WEST -> 01:00 WET): hour 1 lasts from 00:00 to 02:00 UTC.
    expect(decideRelay(input(Date.UTC(2026, 9, 25, 0, 30), empty), lisbon1)).toMatchObject({ on: true, reason: 'friendly-credit', nextChange: Date.UTC(2026, 9, 25, 2) })
    expect(decideRelay(input(Date.UTC(2026, 9, 24, 12), empty), lisbon1)).toMatchObject({ on: false, nextChange: Date.UTC(2026, 9, 25, 0) })
    // New York: night hours 22-5 end at 06:00 local, EDT before the fall-back night and EST after it.
    const ny: RelayPolicyOptions = { friendlyCreditHours: [22, 23, 0, 1, 2, 3, 4, 5], timeZone: 'America/New_York' }
    expect(decideRelay(input(Date.UTC(2026, 10, 1, 3), empty), ny)).toMatchObject({ on: true, nextChange: Date.UTC(2026, 10, 1, 11) })
    expect(decideRelay(input(Date.UTC(2026, 2, 8, 4), empty), ny)).toMatchObject({ on: true, nextChange: Date.UTC(2026, 2, 8, 10) })
    // From the afternoon before the spring-forward night: 22:00 EST.
    expect(decideRelay(input(Date.UTC(2026, 2, 7, 18), empty), ny)).toMatchObject({ on: false, nextChange: Date.UTC(2026, 2, 8, 3) })
  })

  it('holidays keep an empty account on from local midnight to midnight, and take precedence over friendly credit', () => {
    const xmas: RelayPolicyOptions = { friendlyCreditHours: [0, 1, 2, 3, 4, 5], timeZone: PR, holidays: ['2026-12-24', '2026-12-25'] }
    const empty = view(pr(9), 0)
    expect(decideRelay(input(pr(20, 0, 23, 12), empty), xmas)).toMatchObject({ on: false, reason: 'empty', nextChange: pr(0, 0, 24, 12) })
    expect(decideRelay(input(pr(0, 0, 24, 12), empty), xmas)).toMatchObject({ on: true, reason: 'holiday', nextChange: pr(0, 0, 26, 12) })
    expect(decideRelay(input(pr(12, 0, 25, 12), empty), xmas)).toMatchObject({ on: true, reason: 'holiday', nextChange: pr(0, 0, 26, 12) })
    // Midnight after the holidays: friendly credit takes over until 06:00, then off.
    expect(decideRelay(input(pr(0, 0, 26, 12), empty), xmas)).toMatchObject({ on: true, reason: 'friendly-credit', nextChange: pr(6, 0, 26, 12) })
    // Funded on a holiday: funded.
    expect(decideRelay(input(pr(12, 0, 25, 12), view(pr(9), 100)), xmas)).toMatchObject({ on: true, reason: 'funded', nextChange: null })
    // A holiday on New York's fall-back day lasts 25 hours; a past holiday changes nothing.
    const ny: RelayPolicyOptions = { friendlyCreditHours: [], timeZone: 'America/New_York', holidays: ['2026-11-01', '2026-01-01'] }
    expect(decideRelay(input(Date.UTC(2026, 9, 31, 12), empty), ny)).toMatchObject({ on: false, nextChange: Date.UTC(2026, 10, 1, 4) })
    expect(decideRelay(input(Date.UTC(2026, 10, 1, 4), empty), ny)).toMatchObject({ on: true, reason: 'holiday', nextChange: Date.UTC(2026, 10, 2, 5) })
    expect(decideRelay(input(Date.UTC(2026, 10, 2, 5), empty), ny)).toMatchObject({ on: false, reason: 'empty', nextChange: null })
    // A window that opens on a holiday while empty changes the reason.
    const w = view(pr(9), 0, [{ from: pr(18, 0, 25, 12), until: pr(23, 0, 25, 12), remaining: 100 }])
    expect(decideRelay(input(pr(12, 0, 25, 12), w), xmas)).toMatchObject({ reason: 'holiday', nextChange: pr(18, 0, 25, 12) })
  })

  it('a tripped load limit keeps the relay off whatever the funds, friendly credit or holiday; nextChange is the end of the back-off', () => {
    const always: RelayPolicyOptions = { friendlyCreditHours: Array.from({ length: 24 }, (_, h) => h), timeZone: PR, holidays: ['2026-06-15'] }
    const load = { tripped: true as const, since: pr(12), until: pr(12, 5), watts: 5_210, limitW: 3_000 }
    for (const funds of [view(pr(9), 5_000), view(pr(9), 0), null]) {
      expect(decideRelay(input(pr(12, 1), funds, { load }), always)).toMatchObject({ on: false, reason: 'load-limit', watts: 5_210, nextChange: pr(12, 5) })
    }
    expect(decideRelay(input(pr(12, 1), view(pr(9), 5_000), { load }), opts)).toMatchObject({ usableWh: 5_000 })
    // After the back-off it is back on if funded (a stale tripped state no longer counts).
    expect(decideRelay(input(pr(12, 5), view(pr(9), 5_000), { load }), opts)).toMatchObject({ on: true, reason: 'funded', watts: null })
    // Above the limit but not tripped yet: the decision changes when it trips.
    const over = { tripped: false as const, tripAt: pr(12, 0, 15) + 10_000 }
    expect(decideRelay(input(pr(12), view(pr(9), 5_000), { load: over }), opts)).toMatchObject({ on: true, nextChange: over.tripAt })
    const windowSoon = view(pr(9), 0, [{ from: pr(12) + 5_000, until: pr(13), remaining: 10 }])
    expect(decideRelay(input(pr(12), windowSoon, { load: over }), opts)).toMatchObject({ nextChange: pr(12) + 5_000 })
  })

  it('warns at each low-balance threshold the usable balance is at or below', () => {
    const o: RelayPolicyOptions = { ...opts, lowBalanceWh: [5_000, 1_000] }
    const at = (general: number, burned = 0): unknown => decideRelay(input(pr(12), view(pr(9), general), { burnedSinceWh: burned }), o).warnings
    expect(at(6_000)).toEqual([])
    expect(at(5_001)).toEqual([])
    expect(at(5_000)).toEqual([{ thresholdWh: 5_000, usableWh: 5_000 }])
    expect(at(6_000, 1_200)).toEqual([{ thresholdWh: 5_000, usableWh: 4_800 }])
    expect(at(800)).toEqual([{ thresholdWh: 1_000, usableWh: 800 }, { thresholdWh: 5_000, usableWh: 800 }])
    expect(at(0)).toEqual([{ thresholdWh: 1_000, usableWh: 0 }, { thresholdWh: 5_000, usableWh: 0 }])
    expect(decideRelay(input(pr(12), view(pr(9), 0)), opts).warnings).toEqual([])
  })

  it('estimates the days remaining from recent use', () => {
    const usage = new UsageEstimator()
    const now = pr(12)
    for (let t = now - 7 * DAY; t < now; t += H) usage.record(t, 2_000 / 24) // 2 kWh a day for a week
    const d = decideRelay(input(now, view(pr(9), 10_000), { usage }), opts)
    expect(d.daysRemaining).toBeCloseTo(5, 9)
    expect(decideRelay(input(now, view(pr(9), 10_000), { usage, burnedSinceWh: 9_000 }), opts).daysRemaining).toBeCloseTo(0.5, 9)
    expect(decideRelay(input(now, view(pr(9), 0), { usage }), opts).daysRemaining).toBe(0)
    expect(decideRelay(input(now, null, { usage }), opts).daysRemaining).toBeNull()
    expect(decideRelay(input(now, view(pr(9), 10_000)), opts).daysRemaining).toBeNull() // no history
    expect(JSON.parse(JSON.stringify(d))).toEqual(d) // published as it stands
  })

  it('rejects malformed options and inputs with a RangeError naming them', () => {
    const funds = view(pr(9), 1)
    const bad: Array<[Partial<RelayPolicyOptions>, RegExp]> = [
      [{ friendlyCreditHours: [22, 24] }, /friendlyCreditHours\[1\]/],
      [{ friendlyCreditHours: [1.5] }, /friendlyCreditHours\[0\]/],
      [{ friendlyCreditHours: '22' as unknown as number[] }, /friendlyCreditHours/],
      [{ timeZone: 'Mars/Olympus_Mons' }, /timeZone/],
      [{ timeZone: '' }, /timeZone/],
      [{ holidays: ['2026-02-30'] }, /holidays\[0\]/],
      [{ holidays: ['2026-12-25', '25/12/2026'] }, /holidays\[1\]/],
      [{ lowBalanceWh: [1_000, -1] }, /lowBalanceWh\[1\]/],
      [{ lowBalanceWh: [Number.NaN] }, /lowBalanceWh\[0\]/]
    ]
    for (const [o, message] of bad) {
      const options = { ...opts, ...o }
      expect(() => checkRelayPolicyOptions(options)).toThrow(RangeError)
      expect(() => decideRelay(input(pr(12), funds), options)).toThrow(message)
    }
    expect(() => decideRelay(input(pr(12), funds, { burnedSinceWh: -1 }), opts)).toThrow(/burnedSinceWh/)
    expect(() => decideRelay(input(Number.NaN, funds), opts)).toThrow(/now/)
    expect(() => checkRelayPolicyOptions({ friendlyCreditHours: [0, 23], timeZone: 'Europe/Lisbon', holidays: ['2028-02-29'], lowBalanceWh: [0, 1_000] })).not.toThrow()
  })

  it('without a time zone, uses the system\'s', () => {
    const system = Intl.DateTimeFormat().resolvedOptions().timeZone
    const t = Date.UTC(2026, 5, 15, 12)
    for (let h = 0; h < 24; h++) {
      const o = { friendlyCreditHours: [h] }
      expect(decideRelay(input(t, view(t, 0)), o)).toEqual(decideRelay(input(t, view(t, 0)), { ...o, timeZone: system }))
    }
  })
})

describe('policy: relay decision over real funds views (fundsOf on an island)', () => {
  it('a street light funded for a window by one resident and unwindowed by another, as the ledger sees it', () => {
    const isl = new Island({ seed: 'relay-policy', producers: 1, streetLights: 1, residents: 2 })
    const p = isl.producers[0]!
    for (let i = 0; i < 10; i++) isl.mint(p)
    isl.sellWholesale(p, 10 * WHOLESALE_PRICE / 1_000)
    const [market, charity] = isl.residents as [OpSigner, OpSigner]
    isl.sellRetail(market, 4 * RETAIL_PRICE / 1_000)
    isl.sellRetail(charity, 2 * RETAIL_PRICE / 1_000)
    const light = isl.devices[0]!
    const key = light.meter.publicKey
    const o: RelayPolicyOptions = { friendlyCreditHours: [], timeZone: 'UTC', lowBalanceWh: [1_000] }
    const decide = (now: number, funds: DeviceFundsView | null, burnedSinceWh = 0): ReturnType<typeof decideRelay> =>
      decideRelay(input(now, funds, { burnedSinceWh }), o)

    expect(decide(isl.clock.now(), fundsOf(isl.state, key, isl.clock.now()))).toMatchObject({ on: false, reason: 'empty' })
    const from = isl.clock.now() + 3 * H
    const until = from + 5 * H
    expect(isl.fund(market, light, 3_000, { from, until }).status).toBe('applied')
    // Taken now, before the meter cited the funding: the window is upcoming and undeclared.
    const noon = fundsOf(isl.state, key, isl.clock.now())
    expect(noon.windows).toMatchObject([{ state: 'upcoming', declared: false, remaining: 3_000 }])
    expect(decide(isl.clock.now(), noon)).toMatchObject({ on: false, reason: 'empty', nextChange: from })
    // The same (older) view says the light is on inside the window and off after it.
    expect(decide(from + H, noon)).toMatchObject({ on: true, reason: 'window', usableWh: 3_000, nextChange: until, warnings: [] })
    expect(decide(from + H, noon, 2_200)).toMatchObject({ on: true, usableWh: 800, warnings: [{ thresholdWh: 1_000, usableWh: 800 }] })
    expect(decide(until, noon)).toMatchObject({ on: false, reason: 'empty', nextChange: null })

    // Inside the window the meter burns; a fresh view agrees with the old one less what was burned.
    isl.clock.set(from + H)
    expect(isl.burn(light, 1_000).status).toBe('applied')
    const evening = fundsOf(isl.state, key, isl.clock.now())
    expect(decide(isl.clock.now(), evening)).toMatchObject({ on: true, reason: 'window', usableWh: 2_000 })
    expect(decide(isl.clock.now(), noon, 1_000).usableWh).toBe(evening.usableNow)

    // The charity's unwindowed funding keeps it on after the window, until it is burned.
    expect(isl.fund(charity, light, 1_500).status).toBe('applied')
    isl.clock.set(until + H)
    const late = fundsOf(isl.state, key, isl.clock.now())
    expect(decide(isl.clock.now(), late)).toMatchObject({ on: true, reason: 'funded', usableWh: 1_500, nextChange: null })
    expect(isl.burn(light, 1_500).status).toBe('applied')
    const empty = fundsOf(isl.state, key, isl.clock.now())
    expect(empty.usableNow).toBe(0)
    expect(decide(isl.clock.now(), empty)).toMatchObject({ on: false, reason: 'empty', usableWh: 0 })
  })
})
