/**
 * What a contract sees and what it returns. A contract is a pure check of one op against a read-only
 * view of the op's causal past (its own chain below it, and what its deps declare of other chains); it
 * returns a rejection with its reason (`RuleViolation`) or the effect to apply. `LedgerState` builds
 * the view, applies effects and owns the data.
 */
import type { FundingWindow, OpId, PublicKey, RegisterBody, SaleContract, SignedOp, SignedOpOf } from '@microgrid/protocol'
import type { ChainView } from '../chain.ts'
import type { RuleViolation } from '../rules.ts'

export type Role = 'producer' | 'generation-meter' | 'consumer' | 'utility'

export interface Registration {
  role: Role
  /** Chain index of the registrar, and the seq and id of its register op. */
  registrar: number
  seq: number
  id: OpId
  /** The registrar's ts: when the grid's authorities witnessed the registration. */
  ts: number
  body: RegisterBody
}

/** What settlement needs of an accepted receipt, by chain index rather than key, to keep the heap small. */
export interface Receipt {
  payer: number
  payee: number
  contract: SaleContract
  amount: number
  paymentId: string
  /** The payee's price for this contract in the receipt's causal past (what the payer saw), or null. */
  price: number | null
}

export interface CausalView {
  /** The op's author, as of the op. */
  readonly author: ChainView
  readonly currency: string
  /** How far past the latest authority time in its past a mint may claim (genesis policy). */
  readonly mintSlackMs: number
  account: (key: PublicKey) => ChainView
  isRegistrar: (account: ChainView) => boolean
  isOracle: (account: ChainView) => boolean
  /**
   * Whether a registrar of the genesis registered the key as a consumer device anywhere in the ledger:
   * a fact of the op set, not of the causal past, so no choice of deps hides it.
   */
  isDevice: (account: ChainView) => boolean
  /** The registration of `account` the author sees; among several, the lowest op id. */
  registration: (account: ChainView) => Registration | undefined
  /** Whether the author's past holds `account`'s op at `seq`. */
  sees: (account: ChainView, seq: number) => boolean
  /** The accepted receipt at (oracle, seq), whether or not it is in the author's past. */
  receipt: (oracle: ChainView, seq: number) => Receipt | undefined
  /** `seller`'s wholesale or retail price as the author's past holds it (its last price op there). */
  priceSeen: (seller: ChainView, which: 'wholesale' | 'retail') => number | null
  /** Whether a receipt for `paymentId`, by any oracle, is in the author's past. */
  paymentSeen: (paymentId: string) => boolean
  /** Whether the author already settled `paymentId`, whichever oracle attested it. */
  settled: (paymentId: string) => boolean
  /** What the author may transfer: credits its deps declare, minus what left the account. */
  transferable: () => number
  /** What a device may burn at `t`: open windows and general funds its deps declare. */
  usableAt: (t: number) => number
  /** The latest time the grid's authorities signed inside the author's past. */
  witnessed: () => number
}

export type Effect =
  | { type: 'none' }
  | { type: 'register', entries: Array<[ChainView, Role]> }
  | { type: 'price', wholesale: number | null, retail: number | null }
  | { type: 'mint', account: ChainView, wh: number, total: number }
  | { type: 'receipt', receipt: Receipt }
  | { type: 'transfer', to: ChainView, wh: number, window: FundingWindow | null, settles: { position: number, paymentId: string } | null }
  | { type: 'burn', wh: number, total: number }
  | { type: 'pardon', account: ChainView, seq: number }

export const NO_EFFECT: Effect = Object.freeze({ type: 'none' })

export type Contract<K extends SignedOp['kind']> = (op: SignedOpOf<K>, view: CausalView) => RuleViolation | Effect
