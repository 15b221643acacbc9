/** Time is injected: rules never read it, only the code that signs new ops and schedules work. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now (): number
}

export const systemClock: Clock = { now: () => Date.now() }

/** A clock that moves only when told to: for tests and simulations. */
export class ManualClock implements Clock {
  #now: number
  constructor (start = 0) { this.#now = start }
  now (): number { return this.#now }
  set (ms: number): void { this.#now = ms }
  advance (ms: number): number { this.#now += ms; return this.#now }
}
