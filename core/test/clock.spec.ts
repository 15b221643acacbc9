import { afterEach, describe, expect, it, vi } from 'vitest'
import { decodeOp } from '@microgrid/protocol'
import { LedgerState, ManualClock, stateHash, systemClock } from '@microgrid/core'
import { Island, runClockTests } from '@microgrid/core/testing'

runClockTests('systemClock', () => systemClock)
runClockTests('ManualClock', () => new ManualClock(Date.UTC(2026, 0, 1)))

describe('ManualClock', () => {
  it('moves only when told to', () => {
    const clock = new ManualClock(1_000)
    expect(clock.now()).toBe(1_000)
    expect(clock.advance(500)).toBe(1_500)
    clock.set(9_000)
    expect(clock.now()).toBe(9_000)
  })
})

describe('the rules never read the wall clock', () => {
  afterEach(() => { vi.restoreAllMocks() })

  it('applies a history with Date.now and performance.now unavailable, to the same state', () => {
    const isl = new Island({ seed: 'no-clock', producers: 2, households: 2, streetLights: 1, residents: 2 })
    isl.simulate(300)
    const ops = isl.ops.map(b => decodeOp(b))
    const expected = stateHash(isl.state)
    vi.spyOn(Date, 'now').mockImplementation(() => { throw new Error('a rule read Date.now') })
    vi.spyOn(performance, 'now').mockImplementation(() => { throw new Error('a rule read performance.now') })
    const state = new LedgerState(decodeOp(isl.genesis))
    for (const op of ops) state.add(op)
    expect(stateHash(state)).toBe(expected)
  })
})
