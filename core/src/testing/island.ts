/**
 * A simulated island grid for tests and benchmarks: a registrar, a payment oracle, a utility,
 * rooftop producers with generation meters, households and street lights with consumer meters, and
 * residents. Every action signs real ops with deterministic keys and applies them to an authoring
 * replica, so the ops it produces are what real nodes would publish.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import {
  compareBytes, decodeOp, DEFAULT_BEACON_INTERVAL_MS, DEFAULT_MINT_SLACK_MS, keySigner, PROTOCOL_VERSION, signOp,
  type BodyOf, type DeviceCategory, type FundingWindow, type OpKind, type OpSigner, type PublicKey, type UnsignedOp
} from '@microgrid/protocol'
import { draftOp } from '../author.ts'
import { ManualClock } from '../clock.ts'
import { LedgerState, type AddResult } from '../state.ts'
import { fundsOf } from '../views.ts'

export interface IslandOptions {
  seed?: string
  producers?: number
  households?: number
  streetLights?: number
  residents?: number
  /** Start of the simulated clock (ms since the epoch). */
  start?: number
  /** Builds the signer for a secret key (a native one makes big histories faster to generate). */
  signerFor?: (secretKey: Uint8Array) => OpSigner
  /** The grid's mint slack (genesis policy), ms. */
  mintSlackMs?: number
  /** How many payment oracles the genesis names (default 1). */
  oracles?: number
  /** Let the authoring replica keep every op, so it can decide ops again itself (forks applied to it). */
  retainOps?: boolean
}

export interface Producer { account: OpSigner, meter: OpSigner, capacityW: number }
export interface Device { meter: OpSigner, category: DeviceCategory, label: string }

/** Deterministic pseudo-random numbers (mulberry32), so a seed gives the same history every run. */
export function seededRandom (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** What an action signed and how the authoring replica took it. */
export type Emitted = AddResult & { bytes: Uint8Array }

export const WHOLESALE_PRICE = 8_000 // minor units per MWh (8 ¢/kWh)
export const RETAIL_PRICE = 12_500 // 12.5 ¢/kWh

export class Island {
  readonly clock: ManualClock
  readonly state: LedgerState
  readonly genesis: Uint8Array
  /** Every op after the genesis, in the order it was signed. */
  readonly ops: Uint8Array[] = []
  readonly registrar: OpSigner
  readonly oracle: OpSigner
  /** Every oracle of the genesis; `oracle` is the first. */
  readonly oracles: OpSigner[]
  readonly utility: OpSigner
  readonly producers: Producer[] = []
  readonly devices: Device[] = []
  readonly residents: OpSigner[] = []
  readonly #seed: string
  readonly #signerFor: (secretKey: Uint8Array) => OpSigner
  #payments = 0

  constructor (options: IslandOptions = {}) {
    this.#seed = options.seed ?? 'island'
    this.#signerFor = options.signerFor ?? keySigner
    this.clock = new ManualClock(options.start ?? Date.UTC(2026, 0, 1))
    this.registrar = this.signer('registrar')
    this.oracle = this.signer('oracle')
    this.oracles = [this.oracle, ...Array.from({ length: Math.max(0, (options.oracles ?? 1) - 1) }, (_, i) => this.signer(`oracle-${i + 2}`))]
    const oracleKeys = this.oracles.map(o => o.publicKey).sort(compareBytes)
    this.utility = this.signer('utility')
    const genesis = signOp({
      v: PROTOCOL_VERSION, grid: null, kind: 'genesis', author: this.registrar.publicKey, seq: 0, prev: null, deps: [], ts: this.clock.now(),
      body: {
        name: `Island ${this.#seed}`, currency: 'USD', registrars: [this.registrar.publicKey], oracles: oracleKeys,
        policy: { friendlyCreditHours: [], beaconIntervalMs: DEFAULT_BEACON_INTERVAL_MS, mintSlackMs: options.mintSlackMs ?? DEFAULT_MINT_SLACK_MS }
      }
    } satisfies UnsignedOp, this.registrar)
    this.genesis = genesis.bytes
    this.state = new LedgerState(decodeOp(genesis.bytes), { retainOps: options.retainOps === true })
    this.must(this.registrar, 'register', { role: 'utility', account: this.utility.publicKey, label: 'Island Power & Light' })
    this.must(this.utility, 'price', { wholesale: null, retail: RETAIL_PRICE })
    for (let i = 0; i < (options.producers ?? 0); i++) this.addProducer(5_000 + 1_000 * (i % 6))
    for (let i = 0; i < (options.households ?? 0); i++) this.addDevice('household')
    for (let i = 0; i < (options.streetLights ?? 0); i++) this.addDevice('street-light')
    for (let i = 0; i < (options.residents ?? 0); i++) this.residents.push(this.signer(`resident-${i}`))
  }

  /** A deterministic key for a role name. */
  signer (name: string): OpSigner {
    let sk = sha256(new TextEncoder().encode(`${this.#seed}/${name}`))
    while (sk.every(b => b === 0)) sk = sha256(sk)
    return this.#signerFor(sk)
  }

  addProducer (capacityW: number): Producer {
    const i = this.producers.length
    const p = { account: this.signer(`producer-${i}`), meter: this.signer(`producer-${i}/meter`), capacityW }
    this.must(this.registrar, 'register', { role: 'producer', account: p.account.publicKey, meter: p.meter.publicKey, capacityW, label: `Rooftop ${i}` })
    this.must(p.account, 'price', { wholesale: WHOLESALE_PRICE, retail: RETAIL_PRICE - 500 })
    this.producers.push(p)
    return p
  }

  addDevice (category: DeviceCategory): Device {
    const i = this.devices.length
    const d = { meter: this.signer(`device-${i}`), category, label: `${category} ${i}` }
    this.must(this.registrar, 'register', { role: 'consumer', meter: d.meter.publicKey, label: d.label, category, position: [18_200_000 + i * 100, -66_500_000 - i * 100] })
    this.devices.push(d)
    return d
  }

  /** Signs the next op of `signer`, applies it to the authoring replica and records it. */
  emit<K extends OpKind> (signer: OpSigner, kind: K, body: BodyOf[K]): Emitted {
    this.clock.advance(1_000)
    const { bytes } = signOp(draftOp(this.state, signer.publicKey, kind, body, this.clock) as UnsignedOp, signer)
    const result = this.state.add(decodeOp(bytes))
    this.ops.push(bytes)
    return { ...result, bytes }
  }

  /** Like emit, but the op must apply: for set-up steps that cannot fail. */
  must<K extends OpKind> (signer: OpSigner, kind: K, body: BodyOf[K]): Uint8Array {
    const r = this.emit(signer, kind, body)
    if (r.status !== 'applied') throw new Error(`${kind} did not apply: ${r.status} ${'reason' in r ? r.reason : ''}`)
    return r.bytes
  }

  /** A registrar's (or oracle's) time beacon: time the grid's authorities witnessed. */
  beacon (signer: OpSigner = this.registrar): Uint8Array {
    return this.must(signer, 'beacon', {})
  }

  /**
   * Contract generator: the producer's meter mints `wh`, once enough time has passed since its
   * registration for its capacity to produce everything it minted, and with a beacon recent enough.
   */
  mint (p: Producer, wh = 1_000): Uint8Array {
    const meter = this.state.chain(p.meter.publicKey)
    const needed = this.#registeredAt(p.meter.publicKey) + Math.ceil((meter.minted + wh) * 3_600_000 / p.capacityW)
    if (this.clock.now() + 2_000 < needed) this.clock.set(needed)
    if (this.state.chain(this.registrar.publicKey).lastTs + this.state.mintSlackMs < this.clock.now() + 2_000) this.beacon()
    // The mint is signed a second from now (`emit` moves the clock): without a beacon just before, that
    // can be short of the time needed (this only ever made the mint fail, so histories that generated
    // before are the same).
    if (this.clock.now() + 1_000 < needed) this.clock.set(needed - 1_000)
    return this.must(p.meter, 'mint', { wh, total: (meter.reading ?? 0) + wh })
  }

  #registeredAt (key: PublicKey): number {
    const reg = this.state.registrationOf(key)
    if (reg === undefined) throw new Error('not registered')
    return reg.ts
  }

  /** The oracle attests a payment; returns the receipt's chain position. */
  pay (payer: PublicKey, payee: PublicKey, contract: 'wholesale-seller' | 'retail-seller', cents: number, paymentId = `pi_${this.#seed}_${++this.#payments}`, oracle: OpSigner = this.oracle): readonly [PublicKey, number] {
    const seq = this.state.chain(oracle.publicKey).length
    this.must(oracle, 'receipt', { payer, payee, contract, amount: cents, currency: 'USD', paymentId })
    return [oracle.publicKey, seq]
  }

  /** Contract wholesale-seller: the utility pays a producer, the producer's node settles in energy. */
  sellWholesale (p: Producer, cents: number): Emitted {
    const receipt = this.pay(this.utility.publicKey, p.account.publicKey, 'wholesale-seller', cents)
    const wh = Math.floor(cents * 1_000_000 / WHOLESALE_PRICE)
    return this.emit(p.account, 'transfer', { contract: 'wholesale-seller', to: this.utility.publicKey, wh, receipt, window: null })
  }

  /** Contract retail-seller: a resident pays the utility (or a producer), the seller settles in energy. */
  sellRetail (resident: OpSigner, cents: number, seller: OpSigner = this.utility): Emitted {
    const receipt = this.pay(resident.publicKey, seller.publicKey, 'retail-seller', cents)
    const price = this.state.chain(seller.publicKey).retail ?? RETAIL_PRICE
    const wh = Math.floor(cents * 1_000_000 / price)
    return this.emit(seller, 'transfer', { contract: 'retail-seller', to: resident.publicKey, wh, receipt, window: null })
  }

  /** Contract resident: fund a device, optionally for a window. */
  fund (resident: OpSigner, device: Device, wh: number, window: FundingWindow | null = null): Emitted {
    return this.emit(resident, 'transfer', { contract: 'resident', to: device.meter.publicKey, wh, receipt: null, window })
  }

  /** Contract consumer: the device's meter burns `wh`. */
  burn (device: Device, wh: number): Emitted {
    const chain = this.state.chain(device.meter.publicKey)
    return this.emit(device.meter, 'burn', { wh, total: (chain.reading ?? 0) + wh })
  }

  /**
   * Grows a realistic history to at least `count` ops: meters minting per kWh, the utility buying
   * wholesale, residents buying retail and funding households and street lights, meters burning.
   * Only actions the rules accept are taken, so every op applies.
   */
  simulate (count: number, random: () => number = seededRandom(1)): void {
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T
    const spendable = (k: PublicKey): number => this.state.spendable(k)
    const undeclared = (k: PublicKey): number => this.state.balance(k) - spendable(k)
    while (this.ops.length < count) {
      const roll = random()
      if (roll < 0.4 && this.producers.length > 0) {
        this.mint(pick(this.producers))
      } else if (roll < 0.5 && this.producers.length > 0) {
        const p = pick(this.producers)
        const available = spendable(p.account.publicKey) + undeclared(p.account.publicKey)
        if (available >= 2_000) this.sellWholesale(p, Math.floor(available / 2 * WHOLESALE_PRICE / 1_000_000))
      } else if (roll < 0.62 && this.residents.length > 0) {
        const available = spendable(this.utility.publicKey) + undeclared(this.utility.publicKey)
        if (available >= 3_000) this.sellRetail(pick(this.residents), Math.min(2_000, Math.floor(available / 2 * RETAIL_PRICE / 1_000_000)))
      } else if (roll < 0.8 && this.residents.length > 0 && this.devices.length > 0) {
        const r = pick(this.residents)
        const available = spendable(r.publicKey) + undeclared(r.publicKey)
        if (available >= 1_000) {
          const d = pick(this.devices)
          const window = d.category === 'street-light' && random() < 0.5
            ? { from: this.clock.now(), until: this.clock.now() + 12 * 3_600_000 }
            : null
          this.fund(r, d, Math.max(1_000, Math.floor(available / 3)), window)
        }
      } else if (this.devices.length > 0) {
        const d = pick(this.devices)
        const funded = fundsOf(this.state, d.meter.publicKey, this.clock.now() + 1_000).usableNow
        if (funded >= 500) this.burn(d, Math.min(funded, 1_000))
      }
    }
  }
}
