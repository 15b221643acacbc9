export {
  Ledger, GridMismatchError, opKey, journalKey, SNAPSHOT_KEY, JOURNAL_PREFIX,
  type LedgerInit, type IngestResult, type OpListener, type LoadReport
} from './ledger.ts'
export {
  LedgerState, PendingLimitError, RewindError,
  type AddResult, type DecidedListener, type LedgerStateOptions, type LedgerStateParts, type LedgerStatePartsView,
  type RewindPlan
} from './state.ts'
export { Chain, OpStatus, type ChainView, type ReadonlyDeviceFunds } from './chain.ts'
export { CreditBook, DeviceFunds, creditSum, creditsUpTo, type CreditList, type WindowFunds, type FunderAccount } from './credits.ts'
export { check, type CausalView, type Effect, type Registration, type Receipt, type Role } from './contracts/index.ts'
export { HeldOps, type HeldStatus } from './admission.ts'
export { receiptPosition, RECEIPT_SPAN } from './receipts.ts'
export { fundsOf, type DeviceFundsView, type FundingView, type FunderView } from './views.ts'
export { encodeSnapshot, decodeSnapshot, Snapshot, SnapshotError, SNAPSHOT_FORMAT, type EncodeSnapshotOptions, type RestoreOptions } from './snapshot.ts'
export { stateHash } from './state-hash.ts'
export { type Equivocation } from './forks.ts'
export { REJECT_CODES, RuleViolation, whForPayment, maxWhFor, type RejectCode } from './rules.ts'
export { draftOp, createOp, depsFor } from './author.ts'
export { type Clock, systemClock, ManualClock } from './clock.ts'
export { MemoryStorage, StorageKeyError, checkKey, compareKeys, hasPrefix, type StorageAdapter, type StorageEntry, type StorageKey } from './storage.ts'
export { nativeVerifier, nativeSigner, defaultVerifier, CachingVerifier, cachingVerifier, type CachingVerifierStats } from './verifiers.ts'
export { VerifierPool, type BatchVerifier, type VerifyItem, type VerifierPoolOptions } from './verify-pool.ts'
