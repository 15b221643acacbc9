/** `GET /status`: who this node is, its grid, its peers and how far its ledger got. */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi'
import { gridIdText } from '@microgrid/protocol'
import { currencyDigits, idOf, rolesOf, type ApiContext } from '../context.ts'
import { ACCOUNT_ROLES, CurrencySchema, errors, readQuery } from '../schemas.ts'

const StatusSchema = z.object({
  peerId: z.string().openapi({ description: 'This node\'s libp2p peer id', example: '12D3KooW…' }),
  addresses: z.array(z.string()).openapi({ description: 'The multiaddrs this node listens on' }),
  grid: z.object({
    id: z.string().openapi({ description: 'The grid id (`mgrid1…`, the genesis op id)', example: 'mgrid1…' }),
    name: z.string().openapi({ example: 'Isla' }),
    currency: CurrencySchema
  }),
  peers: z.array(z.object({
    id: z.string(),
    addresses: z.array(z.string())
  })).openapi({ description: 'Peers connected now' }),
  ops: z.object({
    decided: z.number().int().openapi({ description: 'Ops decided (applied or rejected), the genesis excluded' }),
    pending: z.number().int().openapi({ description: 'Ops waiting for their causal past' })
  }),
  stateHash: z.string().openapi({ description: 'sha256 of the state: equal on replicas that hold the same ops' }),
  sync: z.object({
    missing: z.number().int().openapi({ description: 'Chain positions pending ops wait for (0 = nothing known to be missing)' }),
    lastPull: z.object({ peer: z.string(), received: z.number().int(), at: z.number() }).nullable()
      .openapi({ description: 'The last pull from a peer that finished: ops received, when (ms since the epoch)' }),
    target: z.number().int().nullable()
      .openapi({ description: 'The decided count the node is syncing towards, as the peers serving its pulls said; null when no sync is under way' })
  }),
  forks: z.number().int().openapi({ description: 'Forks (fraud proofs) known: see GET /forks' }),
  frozen: z.number().int().openapi({ description: 'Accounts frozen by a fork' }),
  supply: z.object({ mintedWh: z.number().int(), burnedWh: z.number().int() }),
  signers: z.array(z.object({
    name: z.string().openapi({ example: 'resident' }),
    account: z.string(),
    roles: z.array(z.enum(ACCOUNT_ROLES))
  })).openapi({ description: 'The node\'s own keys that actions sign with (`"as": name`)' }),
  time: z.number().openapi({ description: 'The node\'s clock, ms since the epoch' })
}).openapi('Status')

const route = createRoute({
  method: 'get',
  path: '/status',
  summary: 'The node, its grid, peers, op counts, state hash and sync',
  request: { query: readQuery({}) },
  responses: { 200: { description: 'The node\'s status', content: { 'application/json': { schema: StatusSchema } } }, ...errors() }
})

/** The `GET /status` object (also the replica's `status` map). */
export function statusJson (ctx: ApiContext): z.infer<typeof StatusSchema> {
  const { node } = ctx
  const state = node.ledger.state
  const currency = state.genesis.currency
  const peers = node.libp2p.getPeers().map(p => ({
    id: p.toString(),
    addresses: node.libp2p.getConnections(p).map(conn => conn.remoteAddr.toString())
  }))
  return {
    peerId: node.peerId,
    addresses: node.multiaddrs.map(a => a.toString()),
    grid: { id: gridIdText(state.gridId), name: state.genesis.name, currency: { code: currency, digits: currencyDigits(currency) } },
    peers,
    ops: { decided: state.decidedCount, pending: state.pendingCount },
    stateHash: node.stateHash(),
    sync: { missing: state.missing().length, lastPull: ctx.lastSync, target: node.syncTarget() ?? null },
    forks: state.equivocations.length,
    frozen: state.frozenAccounts().length,
    supply: { mintedWh: state.minted, burnedWh: state.burned },
    signers: [...ctx.signers].map(([name, s]) => {
      const chain = state.findChain(s.publicKey)
      return { name, account: idOf(s.publicKey), roles: chain === undefined ? ['resident' as const] : rolesOf(state, chain) }
    }),
    time: ctx.clock.now()
  }
}

export function statusRoutes (ctx: ApiContext, app: OpenAPIHono): void {
  app.openapi(route, c => c.json(statusJson(ctx), 200))
}
