/**
 * Schemas shared by the routes. They validate requests and, through @hono/zod-openapi, make the
 * OpenAPI document the node serves: a field's description here is its documentation there.
 */
import { z } from '@hono/zod-openapi'
import { parseAccountId } from '@microgrid/protocol'

const MAX_ID_CHARS = 200

export const EXAMPLE_ACCOUNT = 'mg1q0fspz7m5uvzpxls8cfjym5kps5p5agajfzvpzwsqf54k56k35e3jypxjat'
export const EXAMPLE_DEVICE = 'mg1q23qrwc2mkz3033wnduuy30dlqcd80mcer9ggn8er7d2xm0qdw70sey96dw'

/** An account id in its text form (`mg1…`, bech32 of the compressed public key). */
export const AccountId = z.string().max(MAX_ID_CHARS).superRefine((text, ctx) => {
  if (text.length > MAX_ID_CHARS) return // max() said so: one message, not two
  try {
    parseAccountId(text)
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message })
  }
}).openapi({ description: 'An account id: `mg1…` (bech32 of the 33-byte compressed secp256k1 key)', example: EXAMPLE_ACCOUNT })

/** The message for a query parameter given twice (`?role=a&role=b` reads as a list). */
const ONCE = 'given more than once: give it once'

/** A query parameter taking one of `values`: the message names them and what was given. */
export function queryEnum<const T extends readonly [string, ...string[]]> (values: T): z.ZodEnum<{ [K in T[number]]: K }> {
  return z.enum(values, {
    error: issue => Array.isArray(issue.input) ? ONCE : `expected one of ${values.join(', ')}, got ${JSON.stringify(String(issue.input).slice(0, 40))}`
  })
}

/** A query parameter of text (`before`): zod's message, but a repeated parameter says so. */
export const queryText = (max: number): z.ZodString => z.string({ error: issue => Array.isArray(issue.input) ? ONCE : undefined }).max(max)

/** A whole number in [min, max] written in decimal digits (`?limit=20`; not `1e2`, `0x10` or `2.0`), `fallback` when absent. */
export function queryInteger (min: number, max: number, fallback: number): z.ZodType<number> {
  const message = `expected a whole number ${min}-${max}`
  return z.preprocess((raw, ctx) => {
    if (raw === undefined) return undefined
    if (Array.isArray(raw)) ctx.addIssue({ code: 'custom', message: ONCE })
    else if (typeof raw !== 'string' || !/^\d{1,15}$/.test(raw)) ctx.addIssue({ code: 'custom', message: `${message}, got ${JSON.stringify(String(raw).slice(0, 40))}` })
    else return Number(raw)
    return z.NEVER
  }, z.number().int().min(min, message).max(max, message).default(fallback))
}

const TokenQuery = queryText(200).optional()
  .openapi({ description: 'The API token, for clients that cannot set headers (an EventSource, a link): GET requests only' })

/**
 * A read route's query: the parameters it takes, and `token`; any other parameter is refused (400), so
 * a misspelt filter (`?categroy=`) is an error instead of an unfiltered answer.
 */
export function readQuery<S extends z.ZodRawShape> (shape: S): z.ZodObject<S & { token: typeof TokenQuery }, z.core.$strict> {
  const names = Object.keys(shape)
  const takes = names.length > 0 ? `${names.join(', ')} (and token)` : 'no parameters (but token)'
  return z.strictObject({ ...shape, token: TokenQuery }, {
    error: issue => issue.code === 'unrecognized_keys'
      ? `unknown parameter ${issue.keys.map(k => JSON.stringify(k.slice(0, 40))).join(', ')}: this route takes ${takes}`
      : undefined
  })
}

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
