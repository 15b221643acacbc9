/**
 * Actions: ops signed with the node's own keys (`signers`). Each names the key with `"as"`; by default
 * the key named after the role (`resident`, `registrar`, …) if the node has one fit for the action,
 * else the only key fit for it. An op the rules would reject is never signed (see signing.ts).
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi'
import { DEVICE_CATEGORIES, LIMITS, toHex, type OpSigner, type PublicKey, type RegisterBody } from '@microgrid/protocol'
import { fundsOf, whForPayment, type LedgerState } from '@microgrid/core'
import { PaymentInputError, PaymentUnavailableError, WebhookPayloadError, WebhookSignatureError } from '../../payments.ts'
import type { ApiContext } from '../context.ts'
import { ApiError } from '../errors.ts'
import { keyFrom, knownAccount } from '../lookup.ts'
import { isIngestResult, renderResult, renderValue } from '../render.ts'
import { AccountId, errors, OpResultSchema, PaymentResultSchema, SignerName, TimeSchema } from '../schemas.ts'
import { signChecked } from '../signing.ts'
import { FundsSchema, fundsJson } from './devices.ts'

const utf8 = new TextEncoder()

export const Label = z.string().min(1).max(LIMITS.maxLabelBytes)
  .refine(s => utf8.encode(s).length <= LIMITS.maxLabelBytes, `at most ${LIMITS.maxLabelBytes} UTF-8 bytes`)
  .refine(s => !/[\p{Cc}\p{Cs}]/u.test(s), 'no control characters')
  .openapi({ example: 'Street light 4' })

const Wh = z.number().int().positive().max(Number.MAX_SAFE_INTEGER)
const PricePerMWh = z.number().int().positive().max(Number.MAX_SAFE_INTEGER)
  .openapi({ description: 'Minor units of the grid currency per MWh (12,500 = 12.5 ¢/kWh)', example: 12_500 })
const Contract = z.enum(['wholesale-seller', 'retail-seller'])

const FundSchema = z.strictObject({
  device: AccountId.openapi({ description: 'The consumer device to fund' }),
  wh: Wh.openapi({ description: 'Wh to give', example: 2_000 }),
  window: z.strictObject({ from: TimeSchema, until: TimeSchema }).nullable().optional()
    .openapi({ description: 'A funding window: the device burns these units from `from` until before `until`; what is left returns to the funder. Omit or null: the units stay with the device for good' }),
  as: SignerName
}).openapi('FundAction')

const PriceActionSchema = z.strictObject({
  wholesale: PricePerMWh.nullable().optional(),
  retail: PricePerMWh.nullable().optional(),
  as: SignerName
}).openapi('PriceAction')

const Position = z.tuple([z.number().min(-90).max(90), z.number().min(-180).max(180)])
  .openapi({ description: '[latitude, longitude] in degrees (kept to 6 decimals)', example: [18.2, -66.5] })

const RegisterSchema = z.discriminatedUnion('role', [
  z.strictObject({
    role: z.literal('producer'),
    account: AccountId.openapi({ description: 'The producer\'s account' }),
    meter: AccountId.openapi({ description: 'Its generation meter\'s key' }),
    capacityW: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).openapi({ description: 'Nameplate capacity, W', example: 5_000 }),
    label: Label,
    as: SignerName
  }),
  z.strictObject({
    role: z.literal('consumer'),
    meter: AccountId.openapi({ description: 'The device\'s meter key, also its account' }),
    label: Label,
    category: z.enum(DEVICE_CATEGORIES),
    position: Position.nullable(),
    as: SignerName
  }),
  z.strictObject({
    role: z.literal('utility'),
    account: AccountId,
    label: Label,
    as: SignerName
  })
]).openapi('RegisterAction')

const UnfreezeSchema = z.strictObject({
  account: AccountId.openapi({ description: 'The frozen account' }),
  seq: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).openapi({ description: 'The seq of its fork (GET /forks)' }),
  as: SignerName
}).openapi('UnfreezeAction')

const BuySchema = z.strictObject({
  seller: AccountId.openapi({ description: 'The utility or producer to buy from' }),
  amount: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).openapi({ description: 'Minor units of the grid currency to pay', example: 500 }),
  contract: Contract.default('retail-seller').openapi({ description: 'retail-seller (default): a resident buys; wholesale-seller: a utility buys from a producer' }),
  paymentId: z.string().min(1).max(LIMITS.maxPaymentIdBytes).optional(),
  as: SignerName.openapi({ description: 'The key that pays (default: the resident key, or for wholesale the utility key)' })
}).openapi('BuyAction')

const ActionResultSchema = OpResultSchema.extend({
  funds: FundsSchema.optional().openapi({ description: 'fund: the device\'s funds after the op' })
}).openapi('ActionResult')

const actionRoute = <S extends z.ZodType>(path: string, summary: string, description: string, schema: S) => createRoute({
  method: 'post',
  path,
  summary,
  description,
  request: { body: { content: { 'application/json': { schema } }, required: true } },
  responses: {
    200: { description: 'Signed and applied', content: { 'application/json': { schema: ActionResultSchema } } },
    ...errors({
      404: 'An account or device the request names is unknown',
      409: 'The signing key is frozen, or has ops still undecided',
      422: 'The rules would reject the op (`error.code` is the rule, e.g. insufficient-funds); nothing was signed'
    })
  }
})

const fundRoute = actionRoute('/actions/fund', 'Fund a consumer device (contract resident)', 'Signed with the resident key. With a window, the device burns these units inside it and the rest returns to the funder.', FundSchema)
const priceRoute = actionRoute('/actions/price', 'Set this producer\'s or utility\'s prices', 'At least one of wholesale and retail; one left out (or null) keeps its current value.', PriceActionSchema)
const registerRoute = actionRoute('/actions/register', 'Register a producer, a consumer device or a utility', 'Signed with a registrar key of the genesis.', RegisterSchema)
const unfreezeRoute = actionRoute('/actions/unfreeze', 'Lift the freeze of an account\'s fork', 'Signed with a registrar key of the genesis; the fork must be one GET /forks lists and not lifted yet.', UnfreezeSchema)
const buyRoute = createRoute({
  method: 'post',
  path: '/actions/buy',
  summary: 'Buy units: a (simulated) fiat payment from this node\'s key to a seller',
  description: 'The payment service publishes the receipt; the seller\'s node settles it in units at its price. 501 on a node without a payment service.',
  request: { body: { content: { 'application/json': { schema: BuySchema } }, required: true } },
  responses: {
    200: { description: 'The payment service\'s result', content: { 'application/json': { schema: PaymentResultSchema } } },
    ...errors({ 404: 'The seller is unknown', 422: 'The seller cannot sell this way (`not-seller`, `not-utility`, `no-price`, `payment-too-small`) or the receipt was rejected', 501: 'This node has no payment service' })
  }
})

type Role = 'resident' | 'registrar' | 'seller' | 'utility'

/** Whether a key may sign for a role, as far as the ledger says now. */
function fits (state: LedgerState, key: PublicKey, role: Role): boolean {
  const chain = state.findChain(key)
  const reg = chain === undefined ? undefined : state.registrationOf(key)?.role
  const registrar = chain !== undefined && state.hasRole(chain.idx, 'registrar')
  const oracle = chain !== undefined && state.hasRole(chain.idx, 'oracle')
  switch (role) {
    case 'registrar': return registrar
    case 'seller': return reg === 'producer' || reg === 'utility'
    case 'utility': return reg === 'utility'
    case 'resident': return !registrar && !oracle && reg !== 'consumer' && reg !== 'generation-meter' && !(chain !== undefined && state.hasRole(chain.idx, 'device'))
  }
}

const PREFERRED: Record<Role, string[]> = { resident: ['resident'], registrar: ['registrar'], seller: ['producer', 'utility'], utility: ['utility'] }
const WHAT: Record<Role, string> = {
  resident: 'an account that is not a device, meter, registrar or oracle',
  registrar: 'a registrar of the genesis',
  seller: 'a registered producer or utility',
  utility: 'a registered utility'
}

/** The key an action signs (or pays) with: `as`, else the preferred name, else the only fit key. */
export function pickSigner (ctx: ApiContext, as: string | undefined, role: Role): OpSigner {
  if (as !== undefined) {
    const s = ctx.signers.get(as)
    if (s === undefined) throw new ApiError(400, 'unknown-signer', `body.as: this node has no key named ${JSON.stringify(as)} (it has: ${[...ctx.signers.keys()].join(', ') || 'none'})`)
    return s
  }
  const state = ctx.node.ledger.state
  const fit = [...ctx.signers].filter(([, s]) => fits(state, s.publicKey, role))
  if (fit.length === 0) throw new ApiError(403, 'no-signer', `this node holds no key that is ${WHAT[role]}`)
  const preferred = fit.filter(([n]) => PREFERRED[role].includes(n))
  const only = fit.length === 1 ? fit[0] : preferred.length === 1 ? preferred[0] : undefined
  if (only !== undefined) return only[1]
  throw new ApiError(400, 'signer-required', `body.as: several keys of this node could sign this (${fit.map(([n]) => n).join(', ')}): name one`)
}

/** ms since the epoch from a number or an ISO-8601 text. */
function timeOf (value: number | string, field: string): number {
  if (typeof value === 'number') return value
  const ms = /^\d{4}-\d{2}-\d{2}T/.test(value) ? Date.parse(value) : Number.NaN
  if (!Number.isSafeInteger(ms) || ms < 0) throw new ApiError(400, 'bad-request', `${field}: expected ms since the epoch or an ISO-8601 date-time, got ${JSON.stringify(value.slice(0, 40))}`)
  return ms
}

/**
 * Whether `payee` can sell to `payer` under `contract` for `amountMinor`: a receipt it could never
 * settle is refused before the payment service signs it.
 */
export function checkSale (state: LedgerState, payer: PublicKey, payee: PublicKey, contract: 'wholesale-seller' | 'retail-seller', amountMinor: number, field: string): void {
  if (toHex(payer) === toHex(payee)) throw new ApiError(422, 'self-transfer', `${field}: an account cannot pay itself`)
  const seller = state.findChain(payee)
  const role = state.registrationOf(payee)?.role
  if (seller === undefined || role === undefined) throw new ApiError(404, 'unknown-account', `${field}: no registered producer or utility has this id`)
  if (contract === 'wholesale-seller' && role !== 'producer') throw new ApiError(422, 'not-seller', `${field}: wholesale sellers are registered producers`)
  if (contract === 'retail-seller' && role !== 'producer' && role !== 'utility') throw new ApiError(422, 'not-seller', `${field}: retail sellers are registered utilities or producers`)
  if (contract === 'wholesale-seller' && state.registrationOf(payer)?.role !== 'utility') throw new ApiError(422, 'not-utility', 'wholesale buyers are registered utilities')
  const price = contract === 'wholesale-seller' ? seller.wholesale : seller.retail
  if (price === null) throw new ApiError(422, 'no-price', `${field}: the seller has no ${contract === 'wholesale-seller' ? 'wholesale' : 'retail'} price: a payment could never settle`)
  if (whForPayment(amountMinor, price) === 0) throw new ApiError(422, 'payment-too-small', `${amountMinor} minor units buy less than 1 Wh at ${price} per MWh`)
}

/** The status and code of an error a payment service threw. */
function paymentError (err: unknown, defaultStatus: 400 | 500): ApiError {
  if (err instanceof ApiError) return err
  const message = err instanceof Error ? err.message : String(err)
  if (err instanceof WebhookSignatureError) return new ApiError(400, 'bad-signature', message)
  if (err instanceof WebhookPayloadError) return new ApiError(400, 'bad-payload', message)
  if (err instanceof PaymentInputError) return new ApiError(400, 'bad-payment', message)
  if (err instanceof PaymentUnavailableError) return new ApiError(503, 'payment-unavailable', message)
  const e = err as { status?: unknown, statusCode?: unknown, code?: unknown }
  const status = typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : defaultStatus
  return new ApiError((status >= 400 && status <= 599 ? status : defaultStatus) as 400, typeof e.code === 'string' ? e.code : 'payment-refused', message)
}

/**
 * Calls a payment service. Its errors become 4xx/5xx (`defaultStatus` for an error it does not
 * classify); its result is rendered (ledger results as OpResult), a rejected receipt 422 if `rejectedIs422`.
 */
export async function callPayments (task: () => Promise<unknown>, defaultStatus: 400 | 500, rejectedIs422 = true): Promise<{ result: unknown }> {
  let out: unknown
  try {
    out = await task()
  } catch (err) {
    throw paymentError(err, defaultStatus)
  }
  const rejected = (r: unknown): void => {
    if (rejectedIs422 && isIngestResult(r) && r.status === 'rejected') throw new ApiError(422, r.code, r.reason, { result: renderResult(r) })
  }
  if (isIngestResult(out)) {
    rejected(out)
    return { result: renderResult(out) }
  }
  if (out !== null && typeof out === 'object' && 'result' in out && isIngestResult(out.result)) {
    // A PaymentReceipt: the receipt and how the ledger took it.
    rejected(out.result)
    const { result, ...rest } = out
    return { result: { ...(renderValue(rest) as object), result: renderResult(result) } }
  }
  return { result: renderValue(out) }
}

export function actionRoutes (ctx: ApiContext, app: OpenAPIHono): void {
  app.openapi(fundRoute, async c => {
    const body = c.req.valid('json')
    const state = ctx.node.ledger.state
    const device = keyFrom(body.device, 'body.device')
    const reg = state.registrationOf(device)
    if (reg === undefined || reg.body.role !== 'consumer') throw new ApiError(404, 'unknown-device', `body.device: no consumer device is registered as ${body.device}`)
    let window: { from: number, until: number } | null = null
    if (body.window !== undefined && body.window !== null) {
      window = { from: timeOf(body.window.from, 'body.window.from'), until: timeOf(body.window.until, 'body.window.until') }
      if (window.until <= window.from) throw new ApiError(400, 'bad-request', 'body.window.until: must be after window.from')
      if (window.until <= ctx.clock.now()) throw new ApiError(400, 'bad-request', 'body.window.until: the window has already ended')
    }
    const signer = pickSigner(ctx, body.as, 'resident')
    const { result, bytes } = await signChecked(ctx, signer, 'transfer', { contract: 'resident', to: device, wh: body.wh, receipt: null, window })
    if (result.status === 'invalid') throw new ApiError(500, 'internal', result.error.message)
    return c.json({ ...renderResult(result, bytes), funds: fundsJson(fundsOf(ctx.node.ledger.state, device, ctx.clock.now())) }, 200)
  })

  app.openapi(priceRoute, async c => {
    const body = c.req.valid('json')
    const wholesale = body.wholesale ?? null
    const retail = body.retail ?? null
    if (wholesale === null && retail === null) throw new ApiError(400, 'bad-request', 'body: give a wholesale or a retail price (or both)')
    const signer = pickSigner(ctx, body.as, 'seller')
    const { result, bytes } = await signChecked(ctx, signer, 'price', { wholesale, retail })
    if (result.status === 'invalid') throw new ApiError(500, 'internal', result.error.message)
    return c.json(renderResult(result, bytes), 200)
  })

  app.openapi(registerRoute, async c => {
    const b = c.req.valid('json')
    let body: RegisterBody
    if (b.role === 'producer') {
      const account = keyFrom(b.account, 'body.account')
      const meter = keyFrom(b.meter, 'body.meter')
      if (toHex(account) === toHex(meter)) throw new ApiError(400, 'bad-request', 'body.meter: must be a key other than the account')
      body = { role: 'producer', account, meter, capacityW: b.capacityW, label: b.label }
    } else if (b.role === 'consumer') {
      const position = b.position === null ? null : [Math.round(b.position[0] * 1e6), Math.round(b.position[1] * 1e6)] as const
      body = { role: 'consumer', meter: keyFrom(b.meter, 'body.meter'), label: b.label, category: b.category, position }
    } else {
      body = { role: 'utility', account: keyFrom(b.account, 'body.account'), label: b.label }
    }
    const signer = pickSigner(ctx, b.as, 'registrar')
    const { result, bytes } = await signChecked(ctx, signer, 'register', body)
    if (result.status === 'invalid') throw new ApiError(500, 'internal', result.error.message)
    return c.json(renderResult(result, bytes), 200)
  })

  app.openapi(unfreezeRoute, async c => {
    const body = c.req.valid('json')
    const state = ctx.node.ledger.state
    const chain = knownAccount(state, body.account, 'body.account')
    if (!state.equivocations.some(e => e.author === chain.hex && e.seq === body.seq)) {
      throw new ApiError(422, 'no-fork', `body.seq: the account has no fork at seq ${body.seq} (GET /forks lists the forks)`)
    }
    if ((state.parts().pardons.get(`${chain.idx}:${body.seq}`) ?? 0) > 0) {
      throw new ApiError(409, 'already-lifted', `the freeze of the fork at seq ${body.seq} is already lifted`)
    }
    const signer = pickSigner(ctx, body.as, 'registrar')
    const { result, bytes } = await signChecked(ctx, signer, 'unfreeze', { account: chain.key, seq: body.seq })
    if (result.status === 'invalid') throw new ApiError(500, 'internal', result.error.message)
    return c.json(renderResult(result, bytes), 200)
  })

  app.openapi(buyRoute, async c => {
    const body = c.req.valid('json')
    const payments = ctx.payments
    if (payments === undefined) throw new ApiError(501, 'no-payments', 'this node has no payment service')
    const payee = keyFrom(body.seller, 'body.seller')
    const payer = pickSigner(ctx, body.as, body.contract === 'wholesale-seller' ? 'utility' : 'resident').publicKey
    checkSale(ctx.node.ledger.state, payer, payee, body.contract, body.amount, 'body.seller')
    const out = await callPayments(async () => await payments.simulate({
      payer, payee, contract: body.contract, amountMinor: body.amount, ...(body.paymentId !== undefined ? { paymentId: body.paymentId } : {})
    }), 500)
    return c.json(out, 200)
  })
}
