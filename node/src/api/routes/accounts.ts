/** `GET /accounts`, `/accounts/{id}`, `/accounts/{id}/history`. */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi'
import type { ChainView, LedgerState } from '@microgrid/core'
import { currencyDigits, idOf, isListed, labelOf, priceView, rolesOf, type ApiContext } from '../context.ts'
import { historyOf, parseCursor } from '../history.ts'
import { isKnown, keyFrom, knownAccount } from '../lookup.ts'
import { ACCOUNT_ROLES, AccountId, EXAMPLE_ACCOUNT, errors, PriceSchema, queryEnum, queryInteger, queryText, readQuery } from '../schemas.ts'

export const AccountSchema = z.object({
  id: z.string().openapi({ example: EXAMPLE_ACCOUNT }),
  role: z.enum(ACCOUNT_ROLES).openapi({ description: 'The account\'s main role: its registration, else its genesis role, else resident' }),
  roles: z.array(z.enum(ACCOUNT_ROLES)),
  label: z.string().nullable().openapi({ description: 'The registration\'s label', example: 'Rooftop 0' }),
  balanceWh: z.number().int().openapi({ description: 'Every accepted credit minus everything that left the account, Wh', example: 12_000 }),
  spendableWh: z.number().int().openapi({ description: 'What the account\'s own chain has declared so far minus what it spent (its next op may declare more), Wh', example: 10_000 }),
  ops: z.number().int().openapi({ description: 'Decided ops in its own chain' }),
  frozen: z.boolean().openapi({ description: 'Frozen by a fork: its later ops do not apply until a registrar lifts the freeze' })
}).openapi('Account')

const RegistrationSchema = z.object({
  role: z.enum(['producer', 'generation-meter', 'consumer', 'utility']),
  label: z.string(),
  registrar: z.string(),
  seq: z.number().int().openapi({ description: 'The register op\'s seq in the registrar\'s chain' }),
  ts: z.number(),
  capacityW: z.number().int().optional().openapi({ description: 'producer, generation-meter: nameplate capacity' }),
  account: z.string().optional().openapi({ description: 'generation-meter: the producer account its mints credit' }),
  meter: z.string().optional().openapi({ description: 'producer: its generation meter' }),
  category: z.string().optional().openapi({ description: 'consumer: household, street-light, stadium, public, business, other' }),
  position: z.object({ lat: z.number(), lon: z.number() }).nullable().optional().openapi({ description: 'consumer: map position in degrees' })
}).openapi('Registration')

const AccountDetailSchema = AccountSchema.extend({
  frozenFrom: z.number().int().nullable().openapi({ description: 'The seq of the fork that froze it' }),
  registration: RegistrationSchema.nullable(),
  prices: z.object({ wholesale: PriceSchema.nullable(), retail: PriceSchema.nullable() }).nullable()
    .openapi({ description: 'Producers and utilities: the prices in force' }),
  meter: z.object({ readingWh: z.number().int().nullable(), mintedWh: z.number().int(), burnedWh: z.number().int() }).nullable()
    .openapi({ description: 'Meters (generation meters and consumer devices): cumulative reading and totals' })
}).openapi('AccountDetail')

const HistoryEntrySchema = z.object({
  cursor: z.string().openapi({ description: 'Pass as `before` to get the entries after this one' }),
  id: z.string(),
  kind: z.string().openapi({ example: 'transfer' }),
  author: z.string(),
  seq: z.number().int(),
  ts: z.number(),
  status: z.enum(['accepted', 'rejected']),
  deltaWh: z.number().int().openapi({ description: 'How the op changed this account\'s balance, Wh' }),
  body: z.unknown().openapi({ description: 'The op\'s body: keys as account ids, bytes as hex' })
}).openapi('HistoryEntry')

const IdParams = z.object({ id: AccountId.openapi({ param: { name: 'id', in: 'path' } }) })

export type AccountJson = z.infer<typeof AccountSchema>

export function accountJson (state: LedgerState, chain: ChainView): AccountJson {
  const roles = rolesOf(state, chain)
  return {
    id: idOf(chain.key),
    role: roles[0] ?? 'resident',
    roles,
    label: labelOf(state, chain.key),
    balanceWh: chain.balance,
    spendableWh: chain.declared - chain.spent,
    ops: chain.length,
    frozen: Number.isFinite(chain.frozenFrom)
  }
}

function registrationJson (state: LedgerState, chain: ChainView): z.infer<typeof RegistrationSchema> | null {
  const reg = state.registrationOf(chain.key)
  if (reg === undefined) return null
  const b = reg.body
  const out: z.infer<typeof RegistrationSchema> = {
    role: reg.role, label: b.label, registrar: idOf((state.chains[reg.registrar] as ChainView).key), seq: reg.seq, ts: reg.ts
  }
  if (b.role === 'producer') {
    out.capacityW = b.capacityW
    if (reg.role === 'producer') out.meter = idOf(b.meter)
    else out.account = idOf(b.account)
  }
  if (b.role === 'consumer') {
    out.category = b.category
    out.position = b.position === null ? null : { lat: b.position[0] / 1e6, lon: b.position[1] / 1e6 }
  }
  return out
}

const listRoute = createRoute({
  method: 'get',
  path: '/accounts',
  summary: 'Every account with a balance, a registration, a genesis role or ops of its own',
  request: { query: readQuery({ role: queryEnum(ACCOUNT_ROLES).optional().openapi({ description: 'Only accounts with this role' }) }) },
  responses: {
    200: { description: 'The accounts, by id', content: { 'application/json': { schema: z.object({ accounts: z.array(AccountSchema) }) } } },
    ...errors()
  }
})

const getRoute = createRoute({
  method: 'get',
  path: '/accounts/{id}',
  summary: 'One account: balance, roles, registration, prices, meter figures',
  request: { params: IdParams, query: readQuery({}) },
  responses: {
    200: { description: 'The account', content: { 'application/json': { schema: AccountDetailSchema } } },
    ...errors({ 404: 'The ledger knows no such account' })
  }
})

const historyRoute = createRoute({
  method: 'get',
  path: '/accounts/{id}/history',
  summary: 'The decided ops that touch the account, newest first',
  description: 'Its own ops, the ops that credited it (transfers to it, its meter\'s mints, refunds of funding windows), receipts naming it as payer or payee, and its registration; ordered by the signer\'s ts, newest first. Page with `before` = the previous page\'s `next`.',
  request: {
    params: IdParams,
    query: readQuery({
      before: queryText(100).optional().openapi({ description: 'A cursor (`next` of the previous page, or an entry\'s `cursor`), or a time in ms: entries strictly older' }),
      limit: queryInteger(1, 500, 50).openapi({ description: 'Entries per page, 1-500 (default 50)' })
    })
  },
  responses: {
    200: {
      description: 'A page of history',
      content: { 'application/json': { schema: z.object({ account: z.string(), entries: z.array(HistoryEntrySchema), next: z.string().nullable() }) } }
    },
    ...errors()
  }
})

export function accountRoutes (ctx: ApiContext, app: OpenAPIHono): void {
  app.openapi(listRoute, c => {
    const { role } = c.req.valid('query')
    const state = ctx.node.ledger.state
    const accounts = state.chains
      .filter(chain => isListed(state, chain))
      .map(chain => accountJson(state, chain))
      .filter(a => role === undefined || a.roles.includes(role))
      .sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
    return c.json({ accounts }, 200)
  })

  app.openapi(getRoute, c => {
    const state = ctx.node.ledger.state
    const chain = knownAccount(state, c.req.valid('param').id, 'path.id')
    const base = accountJson(state, chain)
    const digits = currencyDigits(state.genesis.currency)
    const seller = base.roles.includes('producer') || base.roles.includes('utility')
    const meter = base.roles.includes('generation-meter') || base.roles.includes('consumer')
    return c.json({
      ...base,
      frozenFrom: Number.isFinite(chain.frozenFrom) ? chain.frozenFrom : null,
      registration: registrationJson(state, chain),
      prices: seller ? { wholesale: priceView(chain.wholesale, digits), retail: priceView(chain.retail, digits) } : null,
      meter: meter ? { readingWh: chain.reading, mintedWh: chain.minted, burnedWh: chain.burned } : null
    }, 200)
  })

  app.openapi(historyRoute, async c => {
    const state = ctx.node.ledger.state
    const { id } = c.req.valid('param')
    const { before, limit } = c.req.valid('query')
    // A valid id the ledger has not seen yet (a new key, a first purchase on its way) has no history yet.
    const key = keyFrom(id, 'path.id')
    if (!isKnown(state, key)) return c.json({ account: idOf(key), entries: [], next: null }, 200)
    const chain = knownAccount(state, id, 'path.id')
    const page = await historyOf(ctx.node.ledger, chain, before === undefined ? null : parseCursor(before), limit)
    return c.json({ account: idOf(chain.key), entries: page.entries, next: page.next }, 200)
  })
}
