/** Pulse sources and the edge logic they share; the agent imports this module (and relay.ts). */
export type { ClockLike, Debounce, PulseEvent, PulseSource, SetTimer } from './events.ts'
export { minPulseIntervalMs } from './events.ts'
export { Debouncer, RateGuard } from './debounce.ts'
export { parseTrace, simulatedSource, type TracePoint } from './simulated.ts'
export { gpioSource, type GpioSourceOptions } from './gpio-source.ts'
export { detectGpiodVersion, type Bias, type GpiodTools, type GpiodVersion } from './gpiod.ts'
