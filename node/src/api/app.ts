/**
 * The node's HTTP API (docs/API.md): a Hono app with every route under `/api/v1`, validated by zod
 * schemas that also make the OpenAPI document it serves (`GET /api/v1/openapi.json`). Build it with
 * `createApi`, serve it with `serveApi` (server.ts), or drive it in-process with `app.request(...)`.
 */
import { OpenAPIHono } from '@hono/zod-openapi'
import type { Context, MiddlewareHandler } from 'hono'
import type { ChainView } from '@microgrid/core'
import { idOf, idOfHex, makeContext, type ApiComponents, type ApiContext, type ApiOptions } from './context.ts'
import { errorBody, handleError } from './errors.ts'
import { EventHub } from './events.ts'
import { renderResult } from './render.ts'
import { router } from './router.ts'
import { guard } from './security.ts'
import { accountRoutes } from './routes/accounts.ts'
import { actionRoutes } from './routes/actions.ts'
import { deviceRoutes } from './routes/devices.ts'
import { eventRoutes } from './routes/events.ts'
import { marketRoutes } from './routes/market.ts'
import { opRoutes } from './routes/ops.ts'
import { paymentRoutes, STRIPE_PATH } from './routes/payments.ts'
import { replicaRoutes } from './routes/replica.ts'
import { simulatorRoutes } from './routes/simulator.ts'
import { statusRoutes } from './routes/status.ts'
import { Replica } from './replica.ts'
import { checkUiDir, uiRoutes } from './static.ts'

/** Every route lives under this prefix. */
export const API_PREFIX = '/api/v1'
/** The version of the API contract (docs/API.md); the OpenAPI document's `info.version`. */
export const API_VERSION = '1.0.0'

interface Runtime {
  ctx: ApiContext
  /** The UI's replica (POST /replica), made on first use. */
  replica: () => Replica
  dispose: () => void
}

const runtimes = new WeakMap<object, Runtime>()

/** The API's shared state, for `serveApi` (which adds the hosts it binds) and `closeApi`. */
export function runtimeOf (app: object): Runtime {
  const r = runtimes.get(app)
  if (r === undefined) throw new TypeError('not an app made by createApi')
  return r
}

/**
 * Builds the API over a running node. Nothing listens yet: `serveApi(app, …)` serves it, and
 * `app.request('/api/v1/status', { headers: { Authorization: 'Bearer …' } })` answers in-process.
 */
export function createApi (c: ApiComponents, options: ApiOptions = {}): OpenAPIHono {
  if (typeof c.token !== 'string' || c.token.length < 8) throw new TypeError('createApi: the token must be text of at least 8 characters')
  if (options.ui !== undefined) checkUiDir(options.ui.dir)
  const events = new EventHub()
  const ctx = makeContext(c, options.allowedHosts ?? ['localhost'], events, options.keepAliveMs ?? 15_000)
  const maxBody = options.maxBodyBytes ?? 64 * 1024
  const app = new OpenAPIHono()
  app.onError(handleError)
  app.notFound(c => c.json(errorBody('not-found', `no route ${c.req.method} ${c.req.path} (see ${API_PREFIX}/openapi.json)`), 404))
  // The UI's files hold no data: no token for them (the Host and Origin checks still apply).
  const isUi = (method: string, path: string): boolean => options.ui !== undefined && (method === 'GET' || method === 'HEAD') &&
    path !== API_PREFIX && !path.startsWith(`${API_PREFIX}/`)
  app.use('*', guard(ctx, (method, path) => (method === 'POST' && path === API_PREFIX + STRIPE_PATH) || isUi(method, path)))
  const large = Math.max(maxBody, 1024 * 1024)
  app.use('*', limitBody(c => c.req.path === API_PREFIX + STRIPE_PATH ? large : maxBody))

  const api = router()
  statusRoutes(ctx, api)
  accountRoutes(ctx, api)
  deviceRoutes(ctx, api)
  marketRoutes(ctx, api)
  opRoutes(ctx, api)
  actionRoutes(ctx, api)
  paymentRoutes(ctx, api)
  eventRoutes(ctx, api)
  simulatorRoutes(ctx, api)
  // The replica is built when a client first asks for it: a node no UI watches (a utility's server,
  // a bench's twenty nodes) does not keep a doc of every account up to date with each op.
  let replica: Replica | undefined
  const replicaNow = (): Replica => (replica ??= new Replica(ctx, options.replica))
  replicaRoutes(ctx, replicaNow, api)
  app.route(API_PREFIX, api)
  if (options.ui !== undefined) uiRoutes(app, options.ui, API_PREFIX)

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http', scheme: 'bearer', description: 'The node\'s API token (GET requests may pass it as ?token=)'
  })
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: `${API_PREFIX}/openapi.json`,
    summary: 'This document',
    responses: { 200: { description: 'The OpenAPI 3.1 document of this API' } }
  })
  // Generated once, on first request: the routes do not change after this function returns.
  let document: ReturnType<typeof app.getOpenAPI31Document> | undefined
  app.get(`${API_PREFIX}/openapi.json`, c => c.json(document ??= app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: {
      title: 'Microgrid node API',
      version: API_VERSION,
      description: 'A household\'s node: read its ledger, sign actions with its keys, submit signed ops, follow live events. See docs/API.md.'
    },
    security: [{ bearerAuth: [] }]
  }), 200))

  const unwire = wireEvents(ctx)
  runtimes.set(app, { ctx, replica: replicaNow, dispose: () => { unwire(); replica?.dispose() } })
  return app
}

/**
 * Refuses bodies over a size with 413: by Content-Length, or while reading a chunked body (kept in the
 * request's body cache for the handlers). Hono's bodyLimit rebuilds the Request for chunked bodies,
 * which the node server's Request does not allow unless it replaces the global Request class.
 */
function limitBody (maxOf: (c: Context) => number): MiddlewareHandler {
  return async (c, next) => {
    const raw = c.req.raw
    const max = maxOf(c)
    const tooLarge = (): Response => c.json(errorBody('body-too-large', `the request body exceeds ${max} bytes`), 413)
    if (raw.body === null) { await next(); return undefined }
    const length = raw.headers.get('content-length')
    if (length !== null && !raw.headers.has('transfer-encoding')) {
      if (Number(length) > max) return tooLarge()
      await next()
      return undefined
    }
    const reader = raw.body.getReader()
    const chunks: Uint8Array[] = []
    let size = 0
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      size += value.byteLength
      if (size > max) {
        await reader.cancel().catch(() => {})
        return tooLarge()
      }
      chunks.push(value)
    }
    const body = new Uint8Array(size)
    let at = 0
    for (const chunk of chunks) { body.set(chunk, at); at += chunk.byteLength }
    // The cache holds promises (HonoRequest#cachedBody), whatever its type says.
    ;(c.req.bodyCache as Record<string, unknown>).arrayBuffer = Promise.resolve(body.buffer)
    await next()
    return undefined
  }
}

/**
 * The Yjs replica behind `POST /replica` of an app made by createApi (its doc, epoch, `flush()`),
 * built now if no client has asked for it yet.
 */
export function replicaOf (app: object): Replica {
  return runtimeOf(app).replica()
}

/** Ends the API's event and replica streams and detaches it from the node (serveApi's `close` does this). */
export function closeApi (app: object): void {
  const r = runtimeOf(app)
  r.ctx.events.closeAll()
  r.dispose()
}

/** Feeds the SSE hub from the node's events; returns the function that detaches it. */
function wireEvents (ctx: ApiContext): () => void {
  const { node, events } = ctx
  // The last balance and spendable sent per account (hex): a balance event only when one changed.
  const sent = new Map<string, string>()
  const offOp = node.on('op', r => {
    if (r.status === 'invalid') return
    if (events.size === 0) { sent.clear(); return }
    const { op: _bytes, ...result } = renderResult(r)
    events.publish('op', result)
    if (r.status !== 'applied' && r.status !== 'rejected') return
    const state = node.ledger.state
    const touched = new Map<string, ChainView>()
    const touch = (chain: ChainView | undefined): void => { if (chain !== undefined) touched.set(chain.hex, chain) }
    const author = state.findChain(r.op.author)
    touch(author)
    if (r.op.kind === 'transfer') touch(state.findChain(r.op.body.to))
    if (r.op.kind === 'mint') {
      const reg = state.registrationOf(r.op.author)
      if (reg?.body.role === 'producer') touch(state.findChain(reg.body.account))
    }
    // A device's op may close funding windows: what is left goes back to their funders.
    if (author?.funds !== null && author?.funds !== undefined) for (const idx of author.funds.funders.keys()) touch(state.chains[idx])
    for (const chain of touched.values()) {
      const spendable = chain.declared - chain.spent
      const value = `${chain.balance}/${spendable}`
      if (sent.get(chain.hex) === value) continue
      sent.set(chain.hex, value)
      events.publish('balance', { account: idOf(chain.key), balanceWh: chain.balance, spendableWh: spendable })
    }
  })
  const offMeter = node.on('meter:report', e => {
    events.publish('meter', { device: idOfHex(e.device), ...e.report, peer: e.peer })
  })
  const offSync = node.on('sync:done', e => {
    ctx.lastSync = { peer: e.peer, received: e.received, at: ctx.clock.now() }
  })
  return () => { offOp(); offMeter(); offSync() }
}

