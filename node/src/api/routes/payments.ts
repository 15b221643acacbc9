/**
 * Payments: the simulator (the seed's payment page: payer, payee, contract, an amount in dollars) and
 * the Stripe webhook. Both hand over to the payment service, which signs the receipt with the grid's
 * oracle key; without one they answer 501.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi'
import { LIMITS } from '@microgrid/protocol'
import { currencyDigits, type ApiContext } from '../context.ts'
import { ApiError } from '../errors.ts'
import { keyFrom } from '../lookup.ts'
import { AccountId, errors, PaymentResultSchema } from '../schemas.ts'
import { callPayments, checkSale } from './actions.ts'

export const STRIPE_PATH = '/payments/stripe'

const SimulateSchema = z.strictObject({
  payer: AccountId.openapi({ description: 'Who pays: a resident (retail-seller) or a utility (wholesale-seller)' }),
  payee: AccountId.openapi({ description: 'The seller: a utility or producer (retail-seller), a producer (wholesale-seller)' }),
  contract: z.enum(['wholesale-seller', 'retail-seller']),
  amountDollars: z.number().positive().max(1e12).optional().openapi({ description: 'The amount in major units of the grid currency (dollars for USD), at most as many decimals as the currency has', example: 5 }),
  amountMinor: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional().openapi({ description: 'Or the amount in minor units (cents)', example: 500 }),
  paymentId: z.string().min(1).max(LIMITS.maxPaymentIdBytes).optional().openapi({ description: 'The payment\'s id; the same id settles once however often it is sent. Default: a new one' })
}).openapi('SimulatedPayment')

const simulateRoute = createRoute({
  method: 'post',
  path: '/payments/simulate',
  summary: 'Simulate a fiat payment: the oracle signs a receipt',
  description: 'The seed\'s payment simulator page. Give exactly one of amountDollars and amountMinor. The seller\'s node then settles the receipt in units at its price.',
  request: { body: { content: { 'application/json': { schema: SimulateSchema } }, required: true } },
  responses: {
    200: { description: 'The payment service\'s result: usually the receipt op\'s result', content: { 'application/json': { schema: PaymentResultSchema } } },
    ...errors({ 404: 'The payee is not a registered seller', 422: 'The payee cannot sell this way (`not-seller`, `not-utility`, `no-price`, `payment-too-small`), or the receipt was rejected', 501: 'This node has no payment service' })
  }
})

export function paymentRoutes (ctx: ApiContext, app: OpenAPIHono): void {
  app.openapi(simulateRoute, async c => {
    const body = c.req.valid('json')
    const payments = ctx.payments
    const state = ctx.node.ledger.state
    if ((body.amountDollars === undefined) === (body.amountMinor === undefined)) {
      throw new ApiError(400, 'bad-request', 'body: give exactly one of amountDollars and amountMinor')
    }
    let amountMinor = body.amountMinor
    if (body.amountDollars !== undefined) {
      const digits = currencyDigits(state.genesis.currency)
      const scaled = body.amountDollars * 10 ** digits
      amountMinor = Math.round(scaled)
      if (Math.abs(scaled - amountMinor) > 1e-6 || amountMinor < 1) {
        throw new ApiError(400, 'bad-request', `body.amountDollars: at most ${digits} decimals of ${state.genesis.currency}, and at least one minor unit`)
      }
    }
    const payer = keyFrom(body.payer, 'body.payer')
    const payee = keyFrom(body.payee, 'body.payee')
    if (payments === undefined) throw new ApiError(501, 'no-payments', 'this node has no payment service')
    checkSale(state, payer, payee, body.contract, amountMinor as number, 'body.payee')
    const out = await callPayments(async () => await payments.simulate({
      payer, payee, contract: body.contract, amountMinor: amountMinor as number, ...(body.paymentId !== undefined ? { paymentId: body.paymentId } : {})
    }), 500)
    return c.json(out, 200)
  })

  // The webhook reads the raw body (Stripe signs its exact bytes): no schema validation here, only docs.
  app.openAPIRegistry.registerPath({
    method: 'post',
    path: STRIPE_PATH,
    summary: 'Stripe webhook (signed by Stripe, no token)',
    description: 'The raw body is verified against the `Stripe-Signature` header with the node\'s webhook secret(s); the payment\'s metadata names payer, payee and contract. Retried and duplicated deliveries settle once. Not behind the API token: the Host and Origin rules still apply.',
    security: [],
    request: {
      headers: z.object({ 'stripe-signature': z.string().openapi({ description: 'Stripe\'s signature header' }) }),
      body: { content: { 'application/json': { schema: z.object({}).passthrough().openapi({ description: 'A Stripe event, exactly as Stripe sent it' }) } } }
    },
    responses: {
      200: { description: 'Accepted: the service\'s result', content: { 'application/json': { schema: PaymentResultSchema } } },
      ...errors({ 400: 'A bad signature or payload: nothing changed', 501: 'This node has no payment service' })
    }
  })
  app.post(STRIPE_PATH, async c => {
    const payments = ctx.payments
    if (payments === undefined) throw new ApiError(501, 'no-payments', 'this node has no payment service')
    const raw = new Uint8Array(await c.req.arrayBuffer())
    const out = await callPayments(async () => await payments.stripeWebhook(raw, c.req.header('stripe-signature')), 400, false)
    return c.json(out, 200)
  })
}
