/**
 * The op envelope and every op kind. An op is a signed, immutable fact in its author's chain:
 * `{ v, grid, kind, author, seq, prev, deps, ts, body }` plus `sig`. See PROTOCOL.md for the bytes.
 */

/** The wire format versions this code reads. A decoded op keeps the `v` it was signed with. */
export const PROTOCOL_VERSIONS = [1, 2] as const
export type ProtocolVersion = typeof PROTOCOL_VERSIONS[number]
/** The wire format version this code writes: new ops are v2. */
export const PROTOCOL_VERSION = 2 satisfies ProtocolVersion

/** secp256k1 public key, SEC1 compressed (33 bytes). Also the account id. */
export type PublicKey = Uint8Array
/** sha256 of an op's unsigned canonical encoding (32 bytes). */
export type OpId = Uint8Array
/** A position in another signer's chain that an op relies on. */
export type Dep = readonly [author: PublicKey, seq: number]
/** A chain position named by author and seq, e.g. the receipt a sale settles. */
export type OpRef = readonly [author: PublicKey, seq: number]

export const OP_KINDS = ['genesis', 'register', 'price', 'mint', 'receipt', 'transfer', 'burn', 'unfreeze', 'beacon'] as const
export type OpKind = typeof OP_KINDS[number]
/** The kinds each version has: `beacon` is new in v2. */
export const OP_KINDS_OF_VERSION: Readonly<Record<ProtocolVersion, readonly OpKind[]>> = Object.freeze({
  1: Object.freeze(OP_KINDS.filter(k => k !== 'beacon')),
  2: OP_KINDS
})

export const CONTRACTS = ['wholesale-seller', 'retail-seller', 'resident'] as const
export type TransferContract = typeof CONTRACTS[number]
export type SaleContract = Exclude<TransferContract, 'resident'>

export const DEVICE_CATEGORIES = ['household', 'street-light', 'stadium', 'public', 'business', 'other'] as const
export type DeviceCategory = typeof DEVICE_CATEGORIES[number]

/**
 * A genesis op's policy. A v1 genesis has `friendlyCreditHours` only; a v2 genesis has all three
 * fields. `policyOf` gives the effective policy of either, with the defaults below for a v1 grid.
 */
export interface GridPolicy {
  /** Hours of the day (0-23, the grid's local time) in which meters keep power on at a zero balance. */
  friendlyCreditHours: number[]
  /** v2: how often, in ms, the registrars' and oracles' nodes publish beacons (≥ 1000). Absent in a v1 genesis. */
  beaconIntervalMs?: number
  /** v2: how far past the latest beacon in its causal past a mint may claim time, in ms (may be 0). Absent in a v1 genesis. */
  mintSlackMs?: number
}

/** The policy a grid runs under, every field set: see `policyOf`. */
export type EffectivePolicy = Required<GridPolicy>

/** `beaconIntervalMs` of a grid whose genesis is v1: 5 minutes. */
export const DEFAULT_BEACON_INTERVAL_MS = 300_000
/** `mintSlackMs` of a grid whose genesis is v1: 15 minutes. */
export const DEFAULT_MINT_SLACK_MS = 900_000
/** The least `beaconIntervalMs` a v2 genesis may set: 1 second. */
export const MIN_BEACON_INTERVAL_MS = 1000

export interface GenesisBody {
  name: string
  /** ISO 4217 code of the fiat every receipt and price is in, e.g. "USD". */
  currency: string
  /** Keys that may register producers, devices and utilities and lift freezes. Sorted, unique. */
  registrars: PublicKey[]
  /** Keys of payment processors whose receipts attest fiat payments. Sorted, unique. */
  oracles: PublicKey[]
  policy: GridPolicy
}

export interface ProducerRegistration {
  role: 'producer'
  /** The producer's account, credited by its meter's mints. */
  account: PublicKey
  /** The generation meter's key: the only signer of mints for this producer. */
  meter: PublicKey
  /** Nameplate capacity in watts: bounds what a mint may claim for the time elapsed. */
  capacityW: number
  label: string
}

export interface ConsumerRegistration {
  role: 'consumer'
  /** The device's meter key, which is also the device's account. */
  meter: PublicKey
  label: string
  category: DeviceCategory
  /** Latitude and longitude in millionths of a degree, or null when the device is not on the map. */
  position: readonly [latE6: number, lonE6: number] | null
}

export interface UtilityRegistration {
  role: 'utility'
  account: PublicKey
  label: string
}

export type RegisterBody = ProducerRegistration | ConsumerRegistration | UtilityRegistration

/** Prices in fiat minor units per MWh (12.5 ¢/kWh = 12,500 ¢/MWh); null leaves a price unset. */
export interface PriceBody {
  wholesale: number | null
  retail: number | null
}

/** Contract generator: energy produced, with the meter's cumulative reading after it, in Wh. */
export interface MintBody {
  wh: number
  total: number
}

/** A fiat payment attested by a payment oracle. `amount` is in minor units of `currency`. */
export interface ReceiptBody {
  payer: PublicKey
  payee: PublicKey
  contract: SaleContract
  amount: number
  currency: string
  paymentId: string
}

/** A funding window, in milliseconds since the Unix epoch: burns may draw on it from `from` until before `until`. */
export interface FundingWindow {
  from: number
  until: number
}

export interface SaleTransferBody {
  contract: SaleContract
  to: PublicKey
  wh: number
  /** The receipt this sale settles. */
  receipt: OpRef
  window: null
}

export interface ResidentTransferBody {
  contract: 'resident'
  /** A registered consumer device. */
  to: PublicKey
  wh: number
  receipt: null
  window: FundingWindow | null
}

export type TransferBody = SaleTransferBody | ResidentTransferBody

/** Contract consumer: energy burned by a device, with the meter's cumulative reading after it, in Wh. */
export interface BurnBody {
  wh: number
  total: number
}

/** A registrar lifts the freeze on `account` for the fork at `seq`, once the case is settled. */
export interface UnfreezeBody {
  account: PublicKey
  seq: number
}

/**
 * v2: a signed time beacon, published by a registrar's or an oracle's node every `beaconIntervalMs`.
 * The body is empty (CBOR `a0`); the op's `ts` is the point. Who may sign one is a ledger rule.
 */
export type BeaconBody = Record<string, never>

export interface BodyOf {
  genesis: GenesisBody
  register: RegisterBody
  price: PriceBody
  mint: MintBody
  receipt: ReceiptBody
  transfer: TransferBody
  burn: BurnBody
  unfreeze: UnfreezeBody
  beacon: BeaconBody
}

export interface UnsignedOpOf<K extends OpKind> {
  /** The wire format version the op was signed with: 1 or 2 (a writer writes `PROTOCOL_VERSION`). */
  v: ProtocolVersion
  /** The grid id (the genesis op's id); null only in the genesis op itself. */
  grid: OpId | null
  kind: K
  author: PublicKey
  seq: number
  /** The id of the author's op at seq - 1; null at seq 0. */
  prev: OpId | null
  /** Heads of other chains this op relies on, sorted by author, one per author, never the author itself. */
  deps: Dep[]
  /** The signer's clock, milliseconds since the Unix epoch; never decreases along a chain. */
  ts: number
  body: BodyOf[K]
}

export type UnsignedOp = { [K in OpKind]: UnsignedOpOf<K> }[OpKind]
export type SignedOpOf<K extends OpKind> = UnsignedOpOf<K> & { sig: Uint8Array }
export type SignedOp = { [K in OpKind]: SignedOpOf<K> }[OpKind]

/** A decoded, signature-checked op with its id and its exact wire bytes. */
export interface VerifiedOp {
  op: SignedOp
  id: OpId
  bytes: Uint8Array
}

/**
 * The effective policy of a grid from its genesis body: a v2 genesis's own fields, or for a v1
 * genesis (which has no beacon fields) `DEFAULT_BEACON_INTERVAL_MS` and `DEFAULT_MINT_SLACK_MS`.
 */
export function policyOf (genesis: GenesisBody): EffectivePolicy {
  const { friendlyCreditHours, beaconIntervalMs, mintSlackMs } = genesis.policy
  return {
    friendlyCreditHours: [...friendlyCreditHours],
    beaconIntervalMs: beaconIntervalMs ?? DEFAULT_BEACON_INTERVAL_MS,
    mintSlackMs: mintSlackMs ?? DEFAULT_MINT_SLACK_MS
  }
}

/** Limits every decoder enforces: no field may make a peer allocate or loop without bound. */
export const LIMITS = Object.freeze({
  maxOpBytes: 4096,
  maxDeps: 64,
  maxLabelBytes: 128,
  maxNameBytes: 128,
  maxPaymentIdBytes: 128,
  maxKeysInGenesis: 32
})
