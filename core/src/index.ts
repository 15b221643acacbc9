export {
  Ledger, GridMismatchError, opKey, journalKey, SNAPSHOT_KEY, JOURNAL_PREFIX,
  type LedgerInit, type IngestResult, type OpListener, type LoadReport
} from './ledger.ts'
export {
  LedgerState, Chain, OpStatus, PendingLimitError,
  type AddResult, type LedgerStateOptions, type LedgerStateParts, type LedgerStatePartsView, type Registration,
  type Receipt, type CreditList, type WindowAllocation, type Role
} from './state.ts'
export { encodeSnapshot, decodeSnapshot, Snapshot, SnapshotError, SNAPSHOT_FORMAT, type EncodeSnapshotOptions, type RestoreOptions } from './snapshot.ts'
export { stateHash } from './state-hash.ts'
export { resolveForks, type ChainHeader, type Equivocation, type ForkResolution } from './forks.ts'
export { REJECT_CODES, RuleViolation, whForPayment, maxWhFor, type RejectCode } from './rules.ts'
export { draftOp, createOp } from './author.ts'
export { type Clock, systemClock, ManualClock } from './clock.ts'
export { MemoryStorage, StorageKeyError, checkKey, compareKeys, hasPrefix, type StorageAdapter, type StorageEntry, type StorageKey } from './storage.ts'
export { nativeVerifier, nativeSigner, defaultVerifier, CachingVerifier, cachingVerifier, type CachingVerifierStats } from './verifiers.ts'
export { VerifierPool, type BatchVerifier, type VerifyItem, type VerifierPoolOptions } from './verify-pool.ts'
