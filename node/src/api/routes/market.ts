/** `GET /prices`, `/receipts`, `/forks`: what sellers charge, what was paid, and who cheated. */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi'
import { fromHex, toHex, type PublicKey } from '@microgrid/protocol'
import { opKey, whForPayment, type ChainView, type LedgerState, type Receipt } from '@microgrid/core'
import { currencyDigits, idOf, labelOf, priceView, toDollars, type ApiContext } from '../context.ts'
import { CurrencySchema, errors, PriceSchema, queryEnum, readQuery } from '../schemas.ts'

const SellerSchema = z.object({
  account: z.string(),
  role: z.enum(['producer', 'utility']),
  label: z.string(),
  wholesale: PriceSchema.nullable(),
  retail: PriceSchema.nullable()
}).openapi('Seller')

const ReceiptSchema = z.object({
  oracle: z.string(),
  seq: z.number().int().openapi({ description: 'The receipt op\'s seq in the oracle\'s chain' }),
  payer: z.string(),
  payee: z.string(),
  contract: z.enum(['wholesale-seller', 'retail-seller']),
  amountMinor: z.number().int(),
  amountDollars: z.number().openapi({ description: 'The amount in major units of the grid currency' }),
  currency: z.string(),
  paymentId: z.string(),
  price: PriceSchema.nullable().openapi({ description: 'The payee\'s price in the receipt\'s past (what the payer saw); null: it can never settle' }),
  wh: z.number().int().nullable().openapi({ description: 'Wh the sale must transfer: ⌊amount × 1,000,000 ÷ price⌋' }),
  ts: z.number().nullable(),
  ageMs: z.number().nullable(),
  settled: z.boolean(),
  settleable: z.boolean().openapi({ description: 'Unsettled, and the payee could settle it now' }),
  reason: z.string().nullable().openapi({ description: 'Unsettled: why (`no-price`, `payment-too-small`, `already-settled`, `not-seller`, `not-utility`, `seller-frozen`, `insufficient-funds`; from the settlement service also `seller-undecided`, `rejected:<code>`); null when settleable' }),
  message: z.string().nullable(),
  mine: z.boolean().nullable().openapi({ description: 'Whether this node\'s settlement service settles it (it holds the payee\'s key); null on a node without one' })
}).openapi('Receipt')

const pricesRoute = createRoute({
  method: 'get',
  path: '/prices',
  summary: 'Every producer\'s and utility\'s wholesale and retail prices',
  request: { query: readQuery({}) },
  responses: {
    200: { description: 'The sellers and their prices', content: { 'application/json': { schema: z.object({ currency: CurrencySchema, sellers: z.array(SellerSchema) }) } } },
    ...errors()
  }
})

const receiptsRoute = createRoute({
  method: 'get',
  path: '/receipts',
  summary: 'Payment receipts, settled and not, with their age and whether they can settle',
  request: { query: readQuery({ settled: queryEnum(['true', 'false']).optional().openapi({ description: 'Only settled (true) or unsettled (false) receipts' }) }) },
  responses: {
    200: {
      description: 'Receipts, newest first. On a node with a settlement service, unsettled receipts carry its verdict (settleable, reason, mine)',
      content: { 'application/json': { schema: z.object({ receipts: z.array(ReceiptSchema) }) } }
    },
    ...errors()
  }
})

const ForkSchema = z.object({
  author: z.string(),
  label: z.string().nullable(),
  seq: z.number().int(),
  ids: z.array(z.string()).openapi({ description: 'The ids (hex) of the ops the author signed at this seq, the surviving one first' }),
  ops: z.array(z.string()).openapi({ description: 'Their wire bytes (hex): two signed ops at one position are the fraud proof' }),
  lifted: z.boolean().openapi({ description: 'Whether a registrar\'s unfreeze for this fork is applied' })
}).openapi('Fork')

const FrozenSchema = z.object({ account: z.string(), label: z.string().nullable(), frozenFrom: z.number().int() })
const ForksSchema = z.object({ forks: z.array(ForkSchema), frozen: z.array(FrozenSchema) })

const forksRoute = createRoute({
  method: 'get',
  path: '/forks',
  summary: 'Fraud proofs (equivocations) and frozen accounts',
  request: { query: readQuery({}) },
  responses: {
    200: {
      description: 'Forks and frozen accounts',
      content: { 'application/json': { schema: ForksSchema } }
    },
    ...errors()
  }
})

/** Whether the payee could settle an unsettled receipt now, or why not. */
function settleability (state: LedgerState, r: Receipt, wh: number | null): { reason: string, message: string } | null {
  const payee = state.chains[r.payee] as ChainView
  const payer = state.chains[r.payer] as ChainView
  if (r.price === null) return { reason: 'no-price', message: 'the receipt\'s past holds no price of the payee: it can never settle' }
  if (wh === 0) return { reason: 'payment-too-small', message: `${r.amount} minor units buy less than 1 Wh at ${r.price} per MWh` }
  if (state.isSettled(r.paymentId)) return { reason: 'already-settled', message: `payment ${r.paymentId} is settled through another receipt` }
  const role = state.registrationOf(payee.key)?.role
  if (r.contract === 'wholesale-seller' && role !== 'producer') return { reason: 'not-seller', message: 'wholesale sellers are registered producers' }
  if (r.contract === 'retail-seller' && role !== 'producer' && role !== 'utility') return { reason: 'not-seller', message: 'retail sellers are registered utilities or producers' }
  if (r.contract === 'wholesale-seller' && state.registrationOf(payer.key)?.role !== 'utility') return { reason: 'not-utility', message: 'wholesale buyers are registered utilities' }
  if (Number.isFinite(payee.frozenFrom)) return { reason: 'seller-frozen', message: 'the payee is frozen by a fork: settled once a registrar lifts the freeze' }
  if (wh !== null && payee.balance < wh) return { reason: 'insufficient-funds', message: `the payee holds ${payee.balance} Wh of the ${wh} Wh due` }
  return null
}

export type SellerJson = z.infer<typeof SellerSchema>
export type ReceiptJson = z.infer<typeof ReceiptSchema>
export type ForksJson = z.infer<typeof ForksSchema>

/** A producer's or utility's item of `GET /prices`. */
export function sellerJson (state: LedgerState, r: { key: PublicKey, role: string, body: { label: string } }, digits: number): SellerJson | null {
  if (r.role !== 'producer' && r.role !== 'utility') return null
  const chain = state.findChain(r.key) as ChainView
  return { account: idOf(r.key), role: r.role, label: r.body.label, wholesale: priceView(chain.wholesale, digits), retail: priceView(chain.retail, digits) }
}

/** The settlement service's view of unsettled receipts, by `oracle:seq`. */
export type ServiceView = ReadonlyMap<string, { settleable?: unknown, reason?: unknown, mine?: unknown }>

export function serviceView (ctx: ApiContext): ServiceView {
  const service = new Map<string, { settleable?: unknown, reason?: unknown, mine?: unknown }>()
  for (const item of ctx.settlement?.unsettled() ?? []) {
    const x = item as { oracle?: unknown, seq?: unknown }
    if (typeof x.oracle === 'string' && typeof x.seq === 'number') service.set(`${x.oracle}:${x.seq}`, item as object)
  }
  return service
}

/** A receipt's item of `GET /receipts`, its age at `now`. */
export function receiptJson (ctx: ApiContext, state: LedgerState, item: { oracle: ChainView, seq: number, receipt: Receipt, settled: boolean }, service: ServiceView, now: number): ReceiptJson {
  const { oracle, seq, receipt: r, settled } = item
  const currency = state.genesis.currency
  const digits = currencyDigits(currency)
  const ts = oracle.tsAt?.[seq] ?? null
  const wh = r.price === null ? null : whForPayment(r.amount, r.price)
  const oracleId = idOf(oracle.key)
  let why = settled ? null : settleability(state, r, wh)
  const theirs = service.get(`${oracleId}:${seq}`)
  if (!settled && theirs !== undefined && why?.reason !== 'already-settled') {
    if (typeof theirs.reason === 'string') why = { reason: theirs.reason, message: why?.reason === theirs.reason ? why.message : `the settlement service: ${theirs.reason}` }
    else if (theirs.settleable === true) why = null
  }
  return {
    oracle: oracleId,
    seq,
    payer: idOf((state.chains[r.payer] as ChainView).key),
    payee: idOf((state.chains[r.payee] as ChainView).key),
    contract: r.contract,
    amountMinor: r.amount,
    amountDollars: toDollars(r.amount, digits),
    currency,
    paymentId: r.paymentId,
    price: priceView(r.price, digits),
    wh,
    ts,
    ageMs: ts === null ? null : Math.max(0, now - ts),
    settled,
    settleable: !settled && why === null,
    reason: why?.reason ?? null,
    message: why?.message ?? null,
    mine: ctx.settlement === undefined ? null : settled ? false : theirs?.mine === true
  }
}

/** `GET /forks`: every fork with its fraud proof (the ops read from storage) and the frozen accounts. */
export async function forksJson (ctx: ApiContext): Promise<ForksJson> {
  const state = ctx.node.ledger.state
  const pardons = state.parts().pardons
  const forks = []
  for (const e of state.equivocations) {
    const chain = state.chainByHex(e.author)
    const ops: string[] = []
    for (const id of e.ids) {
      const bytes = await ctx.node.ledger.storage.load(opKey(e.author, e.seq, id))
      if (bytes !== undefined) ops.push(toHex(bytes))
    }
    forks.push({
      author: idOf(fromHex(e.author)),
      label: labelOf(state, fromHex(e.author)),
      seq: e.seq,
      ids: e.ids,
      ops,
      lifted: chain !== undefined && (pardons.get(`${chain.idx}:${e.seq}`) ?? 0) > 0
    })
  }
  const frozen = state.chains
    .filter(ch => Number.isFinite(ch.frozenFrom))
    .map(ch => ({ account: idOf(ch.key), label: labelOf(state, ch.key), frozenFrom: ch.frozenFrom }))
  return { forks, frozen }
}

export function marketRoutes (ctx: ApiContext, app: OpenAPIHono): void {
  app.openapi(pricesRoute, c => {
    const state = ctx.node.ledger.state
    const currency = state.genesis.currency
    const digits = currencyDigits(currency)
    const sellers: SellerJson[] = []
    for (const r of state.registrations()) {
      const seller = sellerJson(state, r, digits)
      if (seller !== null) sellers.push(seller)
    }
    sellers.sort((a, b) => a.label.localeCompare(b.label) || (a.account < b.account ? -1 : 1))
    return c.json({ currency: { code: currency, digits }, sellers }, 200)
  })

  app.openapi(receiptsRoute, c => {
    const { settled: only } = c.req.valid('query')
    const state = ctx.node.ledger.state
    const now = ctx.clock.now()
    const service = serviceView(ctx)
    const receipts = []
    for (const item of state.receipts()) {
      if (only !== undefined && String(item.settled) !== only) continue
      receipts.push(receiptJson(ctx, state, item, service, now))
    }
    receipts.sort((a, b) => (b.ts ?? 0) - (a.ts ?? 0) || (a.paymentId < b.paymentId ? -1 : 1))
    return c.json({ receipts }, 200)
  })

  app.openapi(forksRoute, async c => c.json(await forksJson(ctx), 200))
}
