/** `GET /events`: Server-Sent Events of applied ops, balance changes and meter reports. */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi'
import { streamSSE, type SSEStreamingApi } from 'hono/streaming'
import type { ApiContext } from '../context.ts'
import type { HubClient, HubEvent } from '../events.ts'
import { errors, readQuery } from '../schemas.ts'

const route = createRoute({
  method: 'get',
  path: '/events',
  summary: 'Live events (Server-Sent Events)',
  description: 'First `ready` ({ stateHash, decided }), then `op` ({ kind, author, seq, id, status, code?, reason? }) for every op the ledger decides or sets aside, `balance` ({ account, balanceWh, spendableWh }) for each account an op changed, and `meter` (a meter agent\'s report: { device, relay, usableWh, daysRemaining, warnings, … }). A comment line `: keep-alive` every 15 s. An EventSource passes the token as `?token=`.',
  request: { query: readQuery({}) },
  responses: {
    200: { description: 'An event stream', content: { 'text/event-stream': { schema: z.string().openapi({ example: 'event: op\ndata: {"kind":"transfer",…}\nid: 7\n\n' }) } } },
    ...errors()
  }
})

/**
 * Sends a hub client's events down an SSE stream until either ends: `write` for each event, a
 * `: keep-alive` comment after `keepAliveMs` without one. Closes the client at the end.
 */
export async function pumpEvents (stream: SSEStreamingApi, client: HubClient, keepAliveMs: number, write: (e: HubEvent) => Promise<void>): Promise<void> {
  try {
    for (;;) {
      const batch = await client.next(keepAliveMs)
      if (batch === null || stream.aborted || stream.closed) break
      if (batch.length === 0) {
        await stream.write(': keep-alive\n\n')
        continue
      }
      for (const e of batch) await write(e)
    }
  } finally {
    client.close()
  }
}

export function eventRoutes (ctx: ApiContext, app: OpenAPIHono): void {
  app.openapi(route, c => {
    const client = ctx.events.subscribe()
    return streamSSE(c, async stream => {
      stream.onAbort(() => client.close())
      await stream.writeSSE({ event: 'ready', data: JSON.stringify({ stateHash: ctx.node.stateHash(), decided: ctx.node.ledger.state.decidedCount }), retry: 2_000 })
      await pumpEvents(stream, client, ctx.keepAliveMs, async e => { await stream.writeSSE({ event: e.event, data: e.data, id: String(e.id) }) })
    }, async () => { client.close() })
  })
}
