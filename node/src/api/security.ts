/**
 * The API's front door, in this order:
 * 1. Host: the Host header must be one the API answers to (its bound address, `localhost` with the
 *    port, in LAN mode the machine's addresses): a DNS-rebinding page whose name now points at
 *    127.0.0.1 still sends its own name, and is refused with 421.
 * 2. Origin: a request that carries an `Origin` header other than the API's own origin (`http://` or
 *    `https://` and the Host) is refused with 403, and no `Access-Control-Allow-*` header is ever sent:
 *    browsers keep other sites out.
 * 3. Token: `Authorization: Bearer <token>`, or `?token=<token>` on GET requests (an EventSource
 *    cannot set headers); 401 otherwise. The Stripe webhook is the one exception: Stripe signs it.
 */
import { timingSafeEqual } from 'node:crypto'
import { sha256 } from '@noble/hashes/sha2.js'
import type { MiddlewareHandler } from 'hono'
import type { ApiContext } from './context.ts'
import { errorBody } from './errors.ts'

const utf8 = new TextEncoder()
const digest = (text: string): Uint8Array => sha256(utf8.encode(text))

/** The Host of a request: its Host header, or the URL's host for in-process requests that carry none. */
export function requestHost (req: Request): string {
  return (req.headers.get('host') ?? new URL(req.url).host).trim().toLowerCase()
}

export function guard (ctx: ApiContext, isPublic: (method: string, path: string) => boolean): MiddlewareHandler {
  const expected = digest(ctx.token)
  return async (c, next) => {
    c.header('X-Content-Type-Options', 'nosniff')
    c.header('Cache-Control', 'no-store')
    c.header('Referrer-Policy', 'no-referrer')
    const host = requestHost(c.req.raw)
    if (!ctx.hosts.has(host)) {
      return c.json(errorBody('host-not-allowed', `this API does not answer to the Host ${JSON.stringify(host.slice(0, 100))}`), 421)
    }
    const origin = c.req.header('origin')?.toLowerCase()
    // Its own origin: this host, over HTTP or through a TLS-terminating proxy that keeps the Host.
    if (origin !== undefined && origin !== `http://${host}` && origin !== `https://${host}`) {
      return c.json(errorBody('cross-origin', `requests from the origin ${JSON.stringify(origin.slice(0, 100))} are refused: this API serves its own origin only`), 403)
    }
    if (!isPublic(c.req.method, c.req.path)) {
      const auth = c.req.header('authorization')
      let token: string | undefined
      if (auth !== undefined) {
        const m = /^Bearer[ ]+(\S+)\s*$/i.exec(auth)
        token = m?.[1]
        if (token === undefined) return unauthorized(c, 'the Authorization header must be "Bearer <token>"')
      } else if (c.req.method === 'GET') {
        token = c.req.query('token')
      }
      if (token === undefined) return unauthorized(c, 'a token is required: send "Authorization: Bearer <token>" (or ?token=<token> on a GET)')
      if (!timingSafeEqual(digest(token), expected)) return unauthorized(c, 'wrong token')
    }
    await next()
    return undefined
  }
}

function unauthorized (c: Parameters<MiddlewareHandler>[0], message: string): Response {
  c.header('WWW-Authenticate', 'Bearer realm="microgrid"')
  return c.json(errorBody('unauthorized', message), 401)
}
