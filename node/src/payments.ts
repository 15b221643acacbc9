/**
 * The payment gateway: a node holding a payment oracle's key publishes `receipt` ops for fiat payments,
 * from the simulator (the seed's payment page) or from Stripe webhooks. The seller's node then settles
 * the receipt in energy (settlement.ts).
 *
 * A webhook's raw body is verified with the `stripe` library (`webhooks.constructEvent`, each configured
 * secret in turn during a rotation, the tolerance against replays of old deliveries); the payment's
 * metadata carries the ledger ids (`payer`, `payee` as `mg1…` account ids, `contract`). A payment id is
 * receipted once however often, concurrently or out of order it is delivered: the ledger is checked
 * for it inside the oracle's signing turn (one op of a key is signed at a time), so nothing is signed
 * twice. The library is loaded on the first webhook (only its webhook helpers are used, no API calls).
 */
import { randomBytes } from 'node:crypto'
import type StripeType from 'stripe'
import {
  AccountIdError, LIMITS, accountId, bytesEqual, parseAccountId, toHex,
  type AccountId, type BodyOf, type OpSigner, type PublicKey, type SaleContract
} from '@microgrid/protocol'
import { systemClock, type Clock, type IngestResult, type LedgerState } from '@microgrid/core'
import type { MicrogridNode } from './node.ts'
import { canSign, inTurn } from './settlement.ts'

/** A payment request that cannot be receipted as given (the API answers 400). */
export class PaymentInputError extends Error {
  override readonly name: string = 'PaymentInputError'
}

/** A webhook whose signature does not verify: missing, tampered, stale or signed with another secret (400). */
export class WebhookSignatureError extends Error {
  override readonly name = 'WebhookSignatureError'
}

/** A verified webhook event whose payment cannot be receipted: bad or missing metadata, amount or currency (400). */
export class WebhookPayloadError extends PaymentInputError {
  override readonly name = 'WebhookPayloadError'
}

/**
 * The gateway cannot receipt now: the oracle's chain is frozen or holds ops this node has not decided,
 * the ledger did not apply the receipt, or Stripe is not configured here (the API answers 503; Stripe
 * retries the delivery).
 */
export class PaymentUnavailableError extends Error {
  override readonly name = 'PaymentUnavailableError'
}

export interface StripeWebhookConfig {
  /** Endpoint signing secrets (`whsec_…`); several while one is rotated out. Tried in order. */
  secrets: string[]
  /** How old a delivery's signature may be, in seconds; default 300 (the library's). */
  toleranceSec?: number
}

export interface PaymentGatewayInit {
  node: MicrogridNode
  /** A payment oracle key of the genesis. */
  oracle: OpSigner
  /** The grid's currency (ISO 4217); must be the genesis currency. */
  currency: string
  /** For the webhook tolerance; default the system clock. */
  clock?: Clock
  stripe?: StripeWebhookConfig
}

export interface SimulatedPayment {
  /** Account ids (`mg1…`) or keys. */
  payer: string | PublicKey
  payee: string | PublicKey
  contract: SaleContract
  /** Fiat in minor units (cents) of the grid's currency. */
  amountMinor: number
  /** Default a fresh `sim_…` id. */
  paymentId?: string
}

/** The receipt of a payment id: the one just signed, or the one already on the ledger. */
export interface PaymentReceipt {
  paymentId: string
  /** The oracle that signed the receipt (`mg1…`): another gateway's oracle for a duplicate, possibly. */
  oracle: AccountId
  seq: number
  /** The receipt op's id, hex. */
  id: string
  /** True when the ledger already held a receipt of this payment id: nothing was signed. */
  duplicate: boolean
  /** How the ledger took the receipt just signed (absent for a duplicate). */
  result?: IngestResult
}

export type WebhookResult =
  | (PaymentReceipt & { status: 'receipted' | 'duplicate', eventId: string, type: string })
  | { status: 'ignored', eventId: string, type: string, reason: string }

export interface PaymentGateway {
  /** Signs a receipt for a simulated payment (the payment page), or returns the existing receipt of its payment id. */
  simulate: (payment: SimulatedPayment) => Promise<PaymentReceipt>
  /**
   * Handles one Stripe webhook delivery: `rawBody` exactly as received, `signatureHeader` the
   * `Stripe-Signature` header. Throws `WebhookSignatureError`, `WebhookPayloadError` (both 400) or
   * `PaymentUnavailableError` (503).
   */
  stripeWebhook: (rawBody: Uint8Array | string, signatureHeader: string | undefined) => Promise<WebhookResult>
  /** The receipt of a payment id on this node's ledger, by any oracle. */
  receiptOf: (paymentId: string) => PaymentReceipt | undefined
  stop: () => Promise<void>
}

const CONTRACTS: readonly SaleContract[] = ['wholesale-seller', 'retail-seller']
const HANDLED = new Set(['payment_intent.succeeded', 'checkout.session.completed', 'checkout.session.async_payment_succeeded'])
const utf8 = new TextEncoder()

let stripeModule: Promise<typeof StripeType> | undefined
const loadStripe = async (): Promise<typeof StripeType> => await (stripeModule ??= import('stripe').then(m => m.default))

/** Starts a payment gateway signing receipts with `oracle` on `node`. Throws at once on a key or currency the genesis does not have. */
export function paymentGateway ({ node, oracle, currency, clock = systemClock, stripe }: PaymentGatewayInit): PaymentGateway {
  const genesis = node.ledger.state.genesis
  if (!genesis.oracles.some(k => bytesEqual(k, oracle.publicKey))) {
    throw new PaymentInputError('payments: the oracle key is not a payment oracle of this grid\'s genesis')
  }
  if (currency.toUpperCase() !== genesis.currency.toUpperCase()) {
    throw new PaymentInputError(`payments: the grid trades in ${genesis.currency}, not ${currency}`)
  }
  if (stripe !== undefined) {
    if (stripe.secrets.length === 0 || stripe.secrets.some(s => typeof s !== 'string' || s.trim() === '')) {
      throw new PaymentInputError('payments: Stripe needs at least one webhook signing secret, none blank')
    }
    if (stripe.toleranceSec !== undefined && (!Number.isSafeInteger(stripe.toleranceSec) || stripe.toleranceSec <= 0)) {
      throw new PaymentInputError('payments: toleranceSec must be a positive whole number of seconds')
    }
  }
  const state = (): LedgerState => node.ledger.state

  // Receipts by payment id (any oracle): built from the ledger, kept by its applied ops, checked on use.
  const index = new Map<string, { oracle: PublicKey, seq: number }>()
  let indexedRewinds = -1
  const reindex = (): void => {
    index.clear()
    for (const { oracle: o, seq, receipt } of state().receipts()) if (!index.has(receipt.paymentId)) index.set(receipt.paymentId, { oracle: o.key, seq })
    indexedRewinds = node.ledger.rewinds
  }
  reindex()
  const offOp = node.on('op', r => {
    if (r.status === 'applied' && r.op.kind === 'receipt' && !index.has(r.op.body.paymentId)) index.set(r.op.body.paymentId, { oracle: r.op.author, seq: r.op.seq })
  })

  const receiptOf = (paymentId: string): PaymentReceipt | undefined => {
    if (node.ledger.rewinds !== indexedRewinds) reindex()
    let at = index.get(paymentId)
    if (at !== undefined && state().receiptAt(at.oracle, at.seq)?.paymentId !== paymentId) {
      reindex() // a receipt undone by a fork, or a second receipt of the id stands instead
      at = index.get(paymentId)
    }
    if (at === undefined) return undefined
    const chain = state().findChain(at.oracle)
    if (chain === undefined) return undefined
    return { paymentId, oracle: accountId(at.oracle), seq: at.seq, id: toHex(chain.idAt(at.seq)), duplicate: true }
  }

  const receipt = async (body: BodyOf['receipt'], fail: (message: string) => Error): Promise<PaymentReceipt> => {
    // In the oracle's turn: nothing else signs with it until this receipt is applied, so a payment id
    // checked absent here is still absent when signed (concurrent deliveries of one event wait here).
    return await inTurn(node, oracle.publicKey, async () => {
      const existing = receiptOf(body.paymentId)
      if (existing !== undefined) return existing
      const s = state()
      const problem = partiesProblem(s, body)
      if (problem !== undefined) throw fail(problem)
      if (!canSign(s, oracle.publicKey)) {
        throw new PaymentUnavailableError('payments: the oracle\'s chain is frozen or holds ops this node has not decided yet; try again later')
      }
      const result = await node.sign(oracle, 'receipt', body)
      if (result.status !== 'applied') {
        throw new PaymentUnavailableError(`payments: the ledger did not apply the receipt (${result.status}${'reason' in result ? `: ${result.reason}` : ''})`)
      }
      index.set(body.paymentId, { oracle: oracle.publicKey, seq: result.op.seq })
      return { paymentId: body.paymentId, oracle: accountId(oracle.publicKey), seq: result.op.seq, id: toHex(result.id), duplicate: false, result }
    })
  }

  const simulate = async (payment: SimulatedPayment): Promise<PaymentReceipt> => {
    const fail = (message: string): PaymentInputError => new PaymentInputError(message)
    if (typeof payment !== 'object' || payment === null) throw fail('payment: expected an object')
    const paymentId = payment.paymentId ?? `sim_${randomBytes(12).toString('hex')}`
    const body = receiptBody({
      payer: payment.payer, payee: payment.payee, contract: payment.contract, amount: payment.amountMinor,
      currency: genesis.currency, paymentId
    }, genesis.currency, fail)
    return await receipt(body, fail)
  }

  const verify = async (rawBody: Uint8Array | string, header: string | undefined): Promise<StripeType.Event> => {
    if (stripe === undefined) throw new PaymentUnavailableError('payments: Stripe webhooks are not configured on this node')
    if (typeof header !== 'string' || header.trim() === '') throw new WebhookSignatureError('webhook: the Stripe-Signature header is missing')
    if (typeof rawBody !== 'string' && !(rawBody instanceof Uint8Array)) throw new WebhookSignatureError('webhook: expected the raw request body')
    const Stripe = await loadStripe()
    const payload = typeof rawBody === 'string' ? rawBody : Buffer.from(rawBody.buffer, rawBody.byteOffset, rawBody.byteLength)
    const errors: Error[] = []
    for (const secret of stripe.secrets) {
      try {
        return Stripe.webhooks.constructEvent(payload, header, secret, stripe.toleranceSec ?? Stripe.webhooks.DEFAULT_TOLERANCE, undefined, clock.now())
      } catch (err) {
        if (err instanceof Stripe.errors.StripeSignatureVerificationError) { errors.push(err); continue }
        // Verified, but the body is not JSON.
        throw new WebhookPayloadError(`webhook: the event body is not an event (${(err as Error).message})`)
      }
    }
    // A stale delivery fails "no matching signature" for every other secret: report what the matching one said.
    const first = errors.find(e => !/No signatures found matching/.test(e.message)) ?? errors[0]
    const stale = first !== undefined && /tolerance/i.test(first.message)
    throw new WebhookSignatureError(stale
      ? `webhook: the signature is older than the ${stripe.toleranceSec ?? 300} s tolerance (a replayed or delayed delivery)`
      : `webhook: the signature does not verify with any configured secret (${firstLine(first?.message)})`, { cause: first })
  }

  const stripeWebhook = async (rawBody: Uint8Array | string, signatureHeader: string | undefined): Promise<WebhookResult> => {
    const event = await verify(rawBody, signatureHeader)
    const eventId = typeof event.id === 'string' ? event.id : ''
    const type = typeof event.type === 'string' ? event.type : ''
    const fail = (message: string): WebhookPayloadError => new WebhookPayloadError(`webhook ${eventId} (${type}): ${message}`)
    if (!HANDLED.has(type)) return { status: 'ignored', eventId, type, reason: `${type} events are not payments` }
    const object = (event.data as { object?: unknown } | undefined)?.object
    if (typeof object !== 'object' || object === null) throw fail('the event has no data.object')
    const o = object as Record<string, unknown>
    const metadata = (typeof o.metadata === 'object' && o.metadata !== null ? o.metadata : {}) as Record<string, unknown>
    if (metadata.payer === undefined && metadata.payee === undefined && metadata.contract === undefined) {
      return { status: 'ignored', eventId, type, reason: 'the payment carries no microgrid metadata (payer, payee, contract)' }
    }
    let paymentId: unknown
    let amount: unknown
    if (type === 'payment_intent.succeeded') {
      paymentId = o.id
      amount = o.amount_received ?? o.amount
    } else {
      if (o.payment_status !== 'paid') return { status: 'ignored', eventId, type, reason: `the checkout session is ${String(o.payment_status)}, not paid` }
      // The PaymentIntent's id when there is one, so the same payment seen through both events receipts once.
      const pi = o.payment_intent
      paymentId = typeof pi === 'string' ? pi : typeof pi === 'object' && pi !== null ? (pi as { id?: unknown }).id : o.id
      amount = o.amount_total
    }
    if (typeof o.currency !== 'string') throw fail('the payment has no currency')
    const body = receiptBody({ payer: metadata.payer, payee: metadata.payee, contract: metadata.contract, amount, currency: o.currency, paymentId }, genesis.currency, fail)
    const r = await receipt(body, fail)
    return { ...r, status: r.duplicate ? 'duplicate' : 'receipted', eventId, type }
  }

  return {
    simulate,
    stripeWebhook,
    receiptOf: (paymentId: string) => receiptOf(paymentId),
    stop: async () => {
      offOp()
      await inTurn(node, oracle.publicKey, async () => {})
    }
  }
}

/** Checks and converts the fields of a payment into a receipt body (the currency as the genesis spells it). */
function receiptBody (
  p: { payer: unknown, payee: unknown, contract: unknown, amount: unknown, currency: unknown, paymentId: unknown },
  gridCurrency: string, fail: (message: string) => Error
): BodyOf['receipt'] {
  const key = (value: unknown, field: string): PublicKey => {
    if (value instanceof Uint8Array) {
      try { accountId(value) } catch (err) { throw fail(`${field}: ${(err as Error).message}`) }
      return value
    }
    if (typeof value !== 'string') throw fail(`${field}: expected an account id (mg1…)`)
    try {
      return parseAccountId(value.trim().toLowerCase())
    } catch (err) {
      throw fail(`${field}: ${err instanceof AccountIdError ? err.message : 'not an account id'}`)
    }
  }
  const payer = key(p.payer, 'payer')
  const payee = key(p.payee, 'payee')
  if (bytesEqual(payer, payee)) throw fail('payer and payee are the same account')
  if (typeof p.contract !== 'string' || !CONTRACTS.includes(p.contract as SaleContract)) {
    throw fail(`contract: expected ${CONTRACTS.join(' or ')}, got ${JSON.stringify(p.contract)}`)
  }
  if (typeof p.amount !== 'number' || !Number.isSafeInteger(p.amount) || p.amount <= 0) {
    throw fail(`amount: expected a positive whole number of minor units, got ${JSON.stringify(p.amount)}`)
  }
  if (typeof p.currency !== 'string' || p.currency.toUpperCase() !== gridCurrency.toUpperCase()) {
    throw fail(`currency: the grid trades in ${gridCurrency}, not ${JSON.stringify(p.currency)}`)
  }
  if (typeof p.paymentId !== 'string' || p.paymentId.length === 0 || utf8.encode(p.paymentId).length > LIMITS.maxPaymentIdBytes) {
    throw fail(`payment id: expected text of 1 to ${LIMITS.maxPaymentIdBytes} bytes`)
  }
  return { payer, payee, contract: p.contract as SaleContract, amount: p.amount, currency: gridCurrency, paymentId: p.paymentId }
}

/**
 * Why a receipt for these parties could never be settled on this node's view, or undefined: the payee
 * must be a registered seller for the contract with a price (the receipt fixes the price it sees), and
 * a wholesale payer a registered utility.
 */
function partiesProblem (s: LedgerState, body: BodyOf['receipt']): string | undefined {
  const payeeRole = s.registrationOf(body.payee)?.role
  const payerRole = s.registrationOf(body.payer)?.role
  const payee = accountId(body.payee)
  if (body.contract === 'wholesale-seller') {
    if (payeeRole !== 'producer') return `payee ${payee} is not a registered producer: wholesale sellers are producers`
    if (payerRole !== 'utility') return `payer ${accountId(body.payer)} is not a registered utility: wholesale buyers are utilities`
    if ((s.findChain(body.payee)?.wholesale ?? null) === null) return `payee ${payee} has set no wholesale price: the payment could never settle`
  } else {
    if (payeeRole !== 'producer' && payeeRole !== 'utility') return `payee ${payee} is not a registered utility or producer: only they sell retail`
    if ((s.findChain(body.payee)?.retail ?? null) === null) return `payee ${payee} has set no retail price: the payment could never settle`
  }
  if (payerRole === 'consumer' || payerRole === 'generation-meter') return `payer ${accountId(body.payer)} is a meter, not an account that buys energy`
  return undefined
}

function firstLine (message: string | undefined): string {
  return (message ?? 'no secret').split('\n')[0]?.trim() ?? ''
}
