/** The acceptance suite every Clock passes: whole milliseconds since the epoch that never go back. */
import { describe, expect, it } from 'vitest'
import type { Clock } from '../clock.ts'

export function runClockTests (name: string, makeClock: () => Clock): void {
  describe(`${name} (Clock acceptance suite)`, () => {
    it('tells whole milliseconds since the Unix epoch, as a safe integer', () => {
      const now = makeClock().now()
      expect(Number.isSafeInteger(now)).toBe(true)
      expect(now).toBeGreaterThanOrEqual(0)
    })

    it('never goes back between two readings', () => {
      const clock = makeClock()
      let last = clock.now()
      for (let i = 0; i < 1_000; i++) {
        const now = clock.now()
        expect(now).toBeGreaterThanOrEqual(last)
        last = now
      }
    })
  })
}
