/** `POST /ops`: submit an op signed elsewhere (a wallet, another tool); the ledger's verdict comes back. */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi'
import { LIMITS } from '@microgrid/protocol'
import type { ApiContext } from '../context.ts'
import { ApiError } from '../errors.ts'
import { renderResult } from '../render.ts'
import { errors, OpResultSchema } from '../schemas.ts'

const SubmitSchema = z.strictObject({
  op: z.string().min(1).max(LIMITS.maxOpBytes * 2 + 8).openapi({ description: 'The signed op\'s wire bytes (canonical DAG-CBOR, PROTOCOL.md), hex or base64', example: 'aa6176…' })
}).openapi('SubmitOp')

const route = createRoute({
  method: 'post',
  path: '/ops',
  summary: 'Submit a signed op',
  description: 'The op is verified and applied like an op from a peer, stored, then gossiped. 200: applied or already held (`duplicate`). 202: held but not decided (`pending`: its causal past is missing; `frozen`). 400: not an op (malformed, bad signature), or an op of another grid. 409: `void` (a losing fork). 422: rejected by the rules (it keeps its position in its author\'s chain, moves nothing). 503: `dropped` (the pending set is full).',
  request: { body: { content: { 'application/json': { schema: SubmitSchema } }, required: true } },
  responses: {
    200: { description: 'Applied, or a duplicate', content: { 'application/json': { schema: OpResultSchema } } },
    202: { description: 'Held undecided: pending or frozen', content: { 'application/json': { schema: OpResultSchema } } },
    ...errors({ 409: 'void: the op lost a fork', 422: 'Rejected by the rules: `error.code` is the rule (e.g. insufficient-funds), `result` the full verdict', 503: 'Dropped: the pending set is full, send it again later' })
  }
})

const OTHER_GRID = 'the op belongs to another grid'

/** Hex (even length, 0-9a-f) or base64 (standard or URL-safe, padding optional). */
export function decodeBytes (text: string, field: string): Uint8Array {
  const t = text.trim()
  if (/^(?:[0-9a-fA-F]{2})+$/.test(t)) return Uint8Array.from(Buffer.from(t, 'hex'))
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(t) && t.replace(/=+$/, '').length % 4 !== 1) {
    return Uint8Array.from(Buffer.from(t.replaceAll('-', '+').replaceAll('_', '/'), 'base64'))
  }
  throw new ApiError(400, 'bad-encoding', `${field}: expected the op's bytes as hex or base64`)
}

export function opRoutes (ctx: ApiContext, app: OpenAPIHono): void {
  app.openapi(route, async c => {
    const bytes = decodeBytes(c.req.valid('json').op, 'body.op')
    if (bytes.length > LIMITS.maxOpBytes) throw new ApiError(400, 'invalid-op', `body.op: ${bytes.length} bytes, an op is at most ${LIMITS.maxOpBytes}`)
    const r = await ctx.node.submit(bytes)
    if (r.status === 'invalid') throw new ApiError(400, 'invalid-op', `body.op: ${r.error.message}`)
    if (r.status === 'void' && r.reason === OTHER_GRID) throw new ApiError(400, 'other-grid', `body.op: ${OTHER_GRID} (or is a genesis op)`)
    const result = renderResult(r)
    switch (r.status) {
      case 'applied': case 'duplicate': return c.json(result, 200)
      case 'pending': case 'frozen': return c.json(result, 202)
      case 'rejected': throw new ApiError(422, r.code, r.reason, { result })
      case 'void': throw new ApiError(409, 'void', r.reason, { result })
      case 'dropped': throw new ApiError(503, 'dropped', r.reason, { result })
    }
  })
}
