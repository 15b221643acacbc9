/**
 * Schemas shared by the routes. They validate requests and, through @hono/zod-openapi, make the
 * OpenAPI document the node serves: a field's description here is its documentation there.
 */
import { z } from '@hono/zod-openapi'
import { parseAccountId } from '@microgrid/protocol'

export const EXAMPLE_ACCOUNT = 'mg1q0fspz7m5uvzpxls8cfjym5kps5p5agajfzvpzwsqf54k56k35e3jypxjat'
export const EXAMPLE_DEVICE = 'mg1q23qrwc2mkz3033wnduuy30dlqcd80mcer9ggn8er7d2xm0qdw70sey96dw'

/** An account id in its text form (`mg1…`, bech32 of the compressed public key). */
export const AccountId = z.string().max(200).superRefine((text, ctx) => {
  try {
    parseAccountId(text)
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message })
  }
}).openapi({ description: 'An account id: `mg1…` (bech32 of the 33-byte compressed secp256k1 key)', example: EXAMPLE_ACCOUNT })

export const ErrorSchema = z.object({
  error: z.object({
    code: z.string().openapi({ description: 'A stable, machine-readable code', example: 'bad-request' }),
    message: z.string().openapi({ description: 'What is wrong, naming the field', example: 'body.wh: Too small: expected number to be >0' })
  })
}).catchall(z.unknown()).openapi('Error')

const errorResponse = (description: string): { description: string, content: { 'application/json': { schema: typeof ErrorSchema } } } =>
  ({ description, content: { 'application/json': { schema: ErrorSchema } } })

/** The error responses every route can give (security and validation), plus route-specific ones. */
export function errors (extra: Record<number, string> = {}): Record<number, ReturnType<typeof errorResponse>> {
  const base: Record<number, string> = {
    400: 'Bad request: a field is missing or malformed (the message names it)',
    401: 'No token, or a wrong one',
    403: 'A request from another origin',
    421: 'A Host header this API does not answer to (DNS rebinding defence)'
  }
  return Object.fromEntries(Object.entries({ ...base, ...extra }).map(([s, d]) => [Number(s), errorResponse(d)]))
}

export const PriceSchema = z.object({
  minorPerMWh: z.number().int().openapi({ description: 'Minor units of the grid currency per MWh (12,500 = 12.5 ¢/kWh)', example: 12_500 }),
  dollarsPerKWh: z.number().openapi({ description: 'The same in major units per kWh', example: 0.125 })
}).openapi('Price')

export const CurrencySchema = z.object({
  code: z.string().openapi({ example: 'USD' }),
  digits: z.number().int().openapi({ description: 'Fraction digits of the minor unit: amounts in minor units ÷ 10^digits = major units', example: 2 })
}).openapi('Currency')

export const ACCOUNT_ROLES = ['registrar', 'oracle', 'utility', 'producer', 'generation-meter', 'consumer', 'resident'] as const

export const RefSchema = z.object({
  account: z.string().openapi({ example: EXAMPLE_ACCOUNT }),
  seq: z.number().int()
}).openapi('ChainPosition')

/** What the ledger made of an op: submitted through `/ops` or signed by an action. */
export const OpResultSchema = z.object({
  status: z.enum(['applied', 'rejected', 'pending', 'duplicate', 'void', 'frozen', 'dropped']).openapi({
    description: 'applied; rejected (kept in its chain, moves nothing; `code` and `reason` say why); pending (its causal past is missing: `missing`); duplicate (already held); void (a fork\'s losing op); frozen (its author is frozen); dropped (the pending set is full: send it again later)'
  }),
  id: z.string().openapi({ description: 'The op id, hex', example: '5d0b…' }),
  kind: z.string().openapi({ example: 'transfer' }),
  author: z.string().openapi({ example: EXAMPLE_ACCOUNT }),
  seq: z.number().int(),
  ts: z.number().openapi({ description: 'The signer\'s clock, ms since the epoch' }),
  code: z.string().optional().openapi({ description: 'rejected: the rule\'s code (e.g. `insufficient-funds`)' }),
  reason: z.string().optional().openapi({ description: 'rejected, void, dropped: why' }),
  missing: z.array(RefSchema).optional().openapi({ description: 'pending: the chain positions it waits for' }),
  op: z.string().optional().openapi({ description: 'Actions: the signed op\'s wire bytes, hex' })
}).openapi('OpResult')

export const TimeSchema = z.union([z.number().int().nonnegative(), z.string().max(64)])
  .openapi({ description: 'ms since the Unix epoch, or an ISO-8601 date-time', example: 1767225600000 })

export const SignerName = z.string().min(1).max(64).optional()
  .openapi({ description: 'Which of the node\'s keys signs (a name from `GET /status` → `signers`); default the only key fit for the action' })

export const PaymentResultSchema = z.object({
  result: z.unknown().openapi({ description: 'What the payment service did: usually the receipt op\'s result (an OpResult)' })
}).openapi('PaymentResult')
