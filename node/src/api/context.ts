/**
 * What the HTTP API works with: the node, its token and keys, the optional payment and settlement
 * services, and the helpers every route shares (ids as text, roles, money in the grid's currency).
 */
import { accountId, fromHex, type OpSigner, type PublicKey } from '@microgrid/protocol'
import { systemClock, type ChainView, type Clock, type LedgerState } from '@microgrid/core'
import type { MicrogridNode } from '../node.ts'
import type { EventHub } from './events.ts'

/**
 * The payment service the API drives (node/src/payments.ts `paymentGateway` fits): the simulator and
 * the Stripe webhook. Errors it throws map to statuses: `PaymentInputError`, `WebhookSignatureError`,
 * `WebhookPayloadError` 400; `PaymentUnavailableError` 503; anything else with a numeric `status` that.
 */
export interface ApiPayments {
  /** Publishes a receipt signed by the grid's oracle key for a simulated fiat payment. */
  simulate: (p: { payer: PublicKey, payee: PublicKey, contract: 'wholesale-seller' | 'retail-seller', amountMinor: number, paymentId?: string }) => Promise<unknown>
  /** Verifies a Stripe webhook's raw body against its `Stripe-Signature` header and publishes the receipt; throws on a bad signature or payload. */
  stripeWebhook: (rawBody: Uint8Array | string, signature: string | undefined) => Promise<unknown>
}

/** The settlement service (node/src/settlement.ts `settlementService` fits): receipts no sale settled yet. */
export interface ApiSettlement {
  /** Items with `oracle` (mg1…) and `seq` naming the receipt, `settleable`, `reason?` and `mine`: GET /receipts merges them. */
  unsettled: () => unknown[]
}

/** A simulated meter as the host of the simulation sees it. */
export interface SimulatedMeter {
  /** The meter's key: a generation meter's, or a consumer device's (its account). */
  account: PublicKey
  role: 'generation' | 'consumption'
  /** What the meter is: "Rooftop solar 1", "Household 2". */
  label: string
  /** Generation: the sun is on the panel; consumption: the load draws (it still needs the relay on). */
  on: boolean
  /** Power while on, W. */
  powerW: number
  /** The meter's relay (consumption), or null. */
  relay: boolean | null
  /** Energy the meter counted since it started, Wh. */
  meteredWh: number
}

/** What `/simulator` needs of a simulation (the island demo provides it). */
export interface ApiSimulator {
  meters: () => SimulatedMeter[]
  /** Switches a meter's sun or load; returns it, or undefined when no simulated meter has this key. */
  set: (account: PublicKey, on: boolean) => SimulatedMeter | undefined
}

export interface ApiComponents {
  node: MicrogridNode
  /** Every request carries `Authorization: Bearer <token>` (or `?token=` for EventSource, which cannot set headers). */
  token: string
  /** The node's own keys, by name ('resident', 'utility', 'producer', 'registrar', 'oracle', or any): actions sign with them. */
  signers: ReadonlyMap<string, OpSigner>
  /** Payments: `POST /payments/simulate`, `/payments/stripe` and `/actions/buy` answer 501 without it. */
  payments?: ApiPayments
  /** Settlement: `GET /receipts` adds its view of unsettled receipts when given. */
  settlement?: ApiSettlement
  /** The time used for funds (`fundsOf`), ages and the ts of ops the actions sign; default the system clock. */
  clock?: Clock
  /** Simulated meters this node hosts (the island demo): `/simulator` answers 501 without it. */
  simulator?: ApiSimulator
}

/** The built UI served at `/` (static.ts). */
export interface UiOptions {
  /** The directory of the built app: it must hold `index.html`. */
  dir: string
}

/** Timing of the UI's replica (replica.ts). */
export interface ReplicaOptions {
  /** Least time between two doc transactions, ms; default 200. */
  flushMs?: number
  /** How often time-dependent values (device windows, status.time) are computed again, ms; default 10,000. */
  refreshMs?: number
  /** Least time between two writes of `status` (its state hash reads the whole state), ms; default 2,000. */
  statusMs?: number
  /** Updates a client may fall behind before it is dropped (like `/events`); default 2,000. */
  maxQueue?: number
}

export interface ApiOptions {
  /**
   * Host header values accepted (exact `host` or `host:port`, case-insensitive). Default `['localhost']`
   * (what in-process `app.request('/…')` carries); `serveApi` adds the addresses it binds.
   */
  allowedHosts?: string[]
  /** Interval of the SSE keep-alive comments, ms; default 15,000. */
  keepAliveMs?: number
  /** Largest request body accepted, bytes (the Stripe webhook: 1 MiB); default 64 KiB. */
  maxBodyBytes?: number
  /**
   * Serve the built UI (a single-page app) at `/`: `dir` holds its `index.html` and assets. Its files
   * need no token; the API routes still do. Without it, paths outside `/api/v1` answer 404.
   */
  ui?: UiOptions
  /** Timing of the UI's replica (`POST /replica`): coalescing and the clock's refresh. */
  replica?: ReplicaOptions
}

/** The API's own state: components plus what the routes share at run time. */
export interface ApiContext {
  readonly node: MicrogridNode
  readonly token: string
  readonly signers: ReadonlyMap<string, OpSigner>
  readonly payments: ApiPayments | undefined
  readonly settlement: ApiSettlement | undefined
  readonly simulator: ApiSimulator | undefined
  readonly clock: Clock
  readonly hosts: Set<string>
  readonly events: EventHub
  readonly keepAliveMs: number
  /** The last pull that finished, for `/status`. */
  lastSync: { peer: string, received: number, at: number } | null
}

export function makeContext (c: ApiComponents, hosts: Iterable<string>, events: EventHub, keepAliveMs: number): ApiContext {
  return {
    node: c.node,
    token: c.token,
    signers: c.signers,
    payments: c.payments,
    settlement: c.settlement,
    simulator: c.simulator,
    clock: c.clock ?? systemClock,
    hosts: new Set([...hosts].map(h => h.toLowerCase())),
    events,
    keepAliveMs,
    lastSync: null
  }
}

// ---------------------------------------------------------------------------------------------------
// Ids, roles, labels

/** Account ids by key object: a chain's key is one Uint8Array for good, and bech32 is costly to redo for 10,000 accounts. */
const ids = new WeakMap<PublicKey, string>()
export const idOf = (key: PublicKey): string => {
  let id = ids.get(key)
  if (id === undefined) ids.set(key, id = accountId(key))
  return id
}
export const idOfHex = (hex: string): string => accountId(fromHex(hex))

export type AccountRole = 'registrar' | 'oracle' | 'utility' | 'producer' | 'generation-meter' | 'consumer' | 'resident'

/** Every role of an account: its registration (the lowest op id) and its genesis roles; `resident` when none. */
export function rolesOf (state: LedgerState, chain: ChainView): AccountRole[] {
  const roles: AccountRole[] = []
  const reg = state.registrationOf(chain.key)
  if (reg !== undefined) roles.push(reg.role)
  if (state.hasRole(chain.idx, 'registrar')) roles.push('registrar')
  if (state.hasRole(chain.idx, 'oracle')) roles.push('oracle')
  if (roles.length === 0) roles.push(state.hasRole(chain.idx, 'device') ? 'consumer' : 'resident')
  return roles
}

export function labelOf (state: LedgerState, key: PublicKey): string | null {
  const reg = state.registrationOf(key)
  return reg === undefined ? null : reg.body.label
}

/** The accounts `/accounts` lists: registered, named in the genesis, holding units, or with ops of their own. */
export function isListed (state: LedgerState, chain: ChainView): boolean {
  return chain.length > 0 || chain.balance !== 0 || state.registrationOf(chain.key) !== undefined ||
    state.hasRole(chain.idx, 'registrar') || state.hasRole(chain.idx, 'oracle')
}

// ---------------------------------------------------------------------------------------------------
// Money

const digitsCache = new Map<string, number>()

/** Fraction digits of a currency's minor unit (USD 2, JPY 0), from Intl; 2 if unknown. */
export function currencyDigits (currency: string): number {
  let d = digitsCache.get(currency)
  if (d === undefined) {
    try {
      d = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2
    } catch {
      d = 2
    }
    digitsCache.set(currency, d)
  }
  return d
}

/** Minor units in major units ("dollars" for USD), for display. */
export function toDollars (minor: number, digits: number): number {
  return Number((minor / 10 ** digits).toFixed(digits))
}

/** A price in minor units per MWh, and the same in major units per kWh. */
export function priceView (minorPerMWh: number | null, digits: number): { minorPerMWh: number, dollarsPerKWh: number } | null {
  if (minorPerMWh === null) return null
  return { minorPerMWh, dollarsPerKWh: Number((minorPerMWh / 1000 / 10 ** digits).toPrecision(12)) }
}

