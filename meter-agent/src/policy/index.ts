/**
 * The meter agent's relay policy: pure decisions (the time is always an argument), no I/O.
 * `decideRelay` says whether the relay is on and why; `LoadLimiter` turns pulses into a load-limit
 * state; `UsageEstimator` turns recent use into Wh per day and days remaining.
 */
export {
  decideRelay, checkRelayPolicyOptions,
  type RelayDecision, type RelayInput, type RelayPolicyOptions, type RelayReason
} from './relay-policy.ts'
export { LoadLimiter, type LoadLimitOptions, type LoadState } from './load-limit.ts'
export {
  UsageEstimator, lowBalanceWarnings,
  type LowBalanceWarning, type UsageEstimatorJSON, type UsageEstimatorOptions
} from './usage.ts'
export { localParts, localDate, offsetAt, nextLocalBoundary, startOfLocalDate, type LocalParts } from './local-time.ts'
