/** `POST /replica`: the UI's Yjs replica of this node's view, as Server-Sent Events (see replica.ts). */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi'
import { streamSSE } from 'hono/streaming'
import * as Y from 'yjs'
import type { ApiContext } from '../context.ts'
import type { Replica } from '../replica.ts'
import { errors } from '../schemas.ts'
import { pumpEvents } from './events.ts'

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** A state vector in base64, decoded (an empty text: the client holds nothing). */
const StateVector = z.string().max(48_000).transform((text, ctx): Uint8Array | undefined => {
  if (text === '') return undefined
  if (!BASE64.test(text)) {
    ctx.addIssue({ code: 'custom', message: 'expected base64 (the bytes of Y.encodeStateVector(doc))' })
    return z.NEVER
  }
  const bytes = new Uint8Array(Buffer.from(text, 'base64'))
  try {
    Y.decodeStateVector(bytes)
  } catch {
    ctx.addIssue({ code: 'custom', message: 'not a Yjs state vector (expected the bytes of Y.encodeStateVector(doc), in base64)' })
    return z.NEVER
  }
  return bytes
}).openapi({ type: 'string', description: 'base64 of `Y.encodeStateVector(doc)` of the client\'s replica; empty for none', example: 'AA==' })

const ReplicaRequest = z.object({
  stateVector: StateVector,
  epoch: z.string().max(100).openapi({ description: 'The epoch the client\'s replica was made under (from `hello`), or empty' })
}).openapi('ReplicaRequest')

const route = createRoute({
  method: 'post',
  path: '/replica',
  summary: 'The UI\'s Yjs replica of this node\'s view (Server-Sent Events)',
  description: 'First `hello` ({ epoch }): the id of this node\'s doc, made anew at each start; a client whose replica has another epoch starts a fresh one. Then `update` events, each a base64 Yjs update: the first holds what the client\'s state vector lacks (everything if its epoch differs), the next ones every change of the doc as it happens. A comment line `: keep-alive` every 15 s. The doc: maps `status`, `accounts`, `devices`, `prices`, `receipts`, `forks` and the array `recent`, with the shapes of the read endpoints (docs/API.md). A client that falls far behind is disconnected; it reconnects with its state vector.',
  request: { body: { required: true, content: { 'application/json': { schema: ReplicaRequest } } } },
  responses: {
    200: { description: 'An event stream', content: { 'text/event-stream': { schema: z.string().openapi({ example: 'event: hello\ndata: {"epoch":"…"}\n\nevent: update\ndata: AQLk…\n\n' }) } } },
    ...errors()
  }
})

export function replicaRoutes (ctx: ApiContext, replicaNow: () => Replica, app: OpenAPIHono): void {
  app.openapi(route, async c => {
    const { stateVector, epoch } = c.req.valid('json')
    const replica = replicaNow()
    await replica.ready
    // Subscribed before the first update is made, in the same turn: no update falls between the two.
    const client = replica.subscribe()
    const first = replica.updateFor(epoch === replica.epoch ? stateVector : undefined)
    return streamSSE(c, async stream => {
      stream.onAbort(() => client.close())
      await stream.writeSSE({ event: 'hello', data: JSON.stringify({ epoch: replica.epoch }), retry: 2_000 })
      await stream.writeSSE({ event: 'update', data: Buffer.from(first).toString('base64') })
      await pumpEvents(stream, client, ctx.keepAliveMs, async e => { await stream.writeSSE({ event: 'update', data: e.data }) })
    }, async () => { client.close() })
  })
}
