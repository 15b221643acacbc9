/**
 * The handler of `microgrid-app://app/…` (Electron's `protocol.handle` takes it as it is: a function
 * from a fetch Request to a Response):
 *
 * - `/api/…` goes to the household node's API on 127.0.0.1, so the UI calls its node from its own
 *   origin (the node refuses requests that carry another origin, and sends no CORS headers). The
 *   renderer still sends the bearer token; only the method, path, body and a few headers are passed
 *   on — never the Origin, cookies or the Referer — and the response streams back (the replica channel).
 * - anything else is a file of the built renderer (desktop/dist/renderer): `/` is index.html, a path
 *   without a file extension falls back to index.html, a traversal out of the directory (`..`, encoded
 *   or not, through a symbolic link) is refused, an unknown file is 404.
 *
 * Every response carries the CSP and the other SECURITY_HEADERS.
 */
import { readFile, realpath, stat } from 'node:fs/promises'
import { posix, relative, resolve, sep, isAbsolute } from 'node:path'
import { APP_HOST, APP_SCHEME, SECURITY_HEADERS, mimeTypeOf } from './app-scheme.ts'

export interface AppProtocolInit {
  /** The built renderer: index.html and its assets. */
  rendererDir: string
  /** The node's API base URL (`http://127.0.0.1:PORT`) while it runs, else undefined. */
  apiUrl: () => string | undefined
  /** How requests reach the node (the global fetch by default; tests may pass another). */
  fetch?: typeof fetch
}

/** Request bodies passed on to the API at most this large (the API itself accepts 64 KiB). */
export const MAX_FORWARDED_BODY = 1024 * 1024

const FORWARDED_REQUEST_HEADERS = ['authorization', 'content-type', 'accept', 'last-event-id']
const FORWARDED_RESPONSE_HEADERS = ['content-type', 'cache-control', 'www-authenticate', 'retry-after', 'content-disposition', 'location']

function withSecurityHeaders (headers: Headers): Headers {
  for (const [k, v] of Object.entries(SECURITY_HEADERS)) headers.set(k, v)
  return headers
}

function errorResponse (status: number, code: string, message: string): Response {
  const headers = withSecurityHeaders(new Headers({ 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' }))
  return new Response(JSON.stringify({ error: { code, message } }), { status, headers })
}

export function appProtocolHandler (init: AppProtocolInit): (request: Request) => Promise<Response> {
  const doFetch = init.fetch ?? fetch
  const root = resolve(init.rendererDir)
  let realRoot: Promise<string> | undefined

  async function serveFile (request: Request, pathname: string): Promise<Response> {
    if (request.method !== 'GET' && request.method !== 'HEAD') return errorResponse(405, 'method-not-allowed', `${request.method} is not served here: the app's files are read-only`)
    let decoded: string
    try {
      decoded = decodeURIComponent(pathname)
    } catch {
      return errorResponse(400, 'bad-path', 'the path is not valid percent-encoding')
    }
    if (decoded.includes('\0') || decoded.includes('\\')) return errorResponse(400, 'bad-path', 'the path holds a NUL or a backslash')
    // Normalised against the root first: `..` may not climb out of it.
    const clean = posix.normalize(decoded)
    if (clean.split('/').includes('..')) return errorResponse(403, 'outside-app', 'the path leads outside the app\'s files')
    const wanted = clean === '/' ? '/index.html' : clean
    const fallback = !/\.[A-Za-z0-9]+$/.test(posix.basename(wanted))
    const file = resolve(root, '.' + (fallback ? '/index.html' : wanted))
    if (!inside(root, file)) return errorResponse(403, 'outside-app', 'the path leads outside the app\'s files')
    let real: string
    try {
      real = await realpath(file)
      realRoot ??= realpath(root)
      if (!inside(await realRoot, real)) return errorResponse(403, 'outside-app', 'the path leads outside the app\'s files')
    } catch {
      return errorResponse(404, 'not-found', `no file ${wanted} in the app`)
    }
    // Read whole (the files are small): Electron reads fs.readFile and fs.stat inside its asar archive too.
    try {
      const info = await stat(real)
      if (!info.isFile()) return errorResponse(404, 'not-found', `no file ${wanted} in the app`)
      const headers = withSecurityHeaders(new Headers({
        'Content-Type': mimeTypeOf(real),
        'Content-Length': String(info.size),
        // Vite names assets by their hash: they never change. index.html does, at every build.
        'Cache-Control': wanted.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache'
      }))
      if (request.method === 'HEAD') return new Response(null, { status: 200, headers })
      return new Response(new Uint8Array(await readFile(real)), { status: 200, headers })
    } catch (err) {
      return errorResponse(500, 'read-failed', `cannot read ${wanted}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
  }

  async function forward (request: Request, url: URL): Promise<Response> {
    const api = init.apiUrl()
    if (api === undefined) return errorResponse(503, 'node-not-running', 'the household node is not running yet')
    if (request.method !== 'GET' && request.method !== 'POST' && request.method !== 'HEAD') {
      return errorResponse(405, 'method-not-allowed', `${request.method} is not an API method`)
    }
    const headers = new Headers()
    for (const name of FORWARDED_REQUEST_HEADERS) {
      const v = request.headers.get(name)
      if (v !== null) headers.set(name, v)
    }
    let body: ArrayBuffer | undefined
    if (request.method === 'POST') {
      const declared = Number(request.headers.get('content-length') ?? '0')
      if (declared > MAX_FORWARDED_BODY) return errorResponse(413, 'body-too-large', `request bodies are at most ${MAX_FORWARDED_BODY} bytes`)
      body = await request.arrayBuffer()
      if (body.byteLength > MAX_FORWARDED_BODY) return errorResponse(413, 'body-too-large', `request bodies are at most ${MAX_FORWARDED_BODY} bytes`)
    }
    let upstream: Response
    try {
      upstream = await doFetch(new URL(url.pathname + url.search, api), {
        method: request.method, headers, ...(body !== undefined ? { body } : {}), redirect: 'manual', signal: request.signal
      })
    } catch (err) {
      return errorResponse(502, 'node-unreachable', `the household node does not answer: ${(err as Error).message}`)
    }
    const out = new Headers()
    for (const name of FORWARDED_RESPONSE_HEADERS) {
      const v = upstream.headers.get(name)
      if (v !== null) out.set(name, v)
    }
    return new Response(upstream.body, { status: upstream.status, statusText: upstream.statusText, headers: withSecurityHeaders(out) })
  }

  return async request => {
    let url: URL
    try {
      url = new URL(request.url)
    } catch {
      return errorResponse(400, 'bad-url', 'not a URL')
    }
    if (url.protocol !== `${APP_SCHEME}:` || url.host !== APP_HOST) return errorResponse(404, 'not-found', `nothing is served at ${url.protocol}//${url.host}`)
    if (url.pathname === '/api' || url.pathname.startsWith('/api/')) return await forward(request, url)
    return await serveFile(request, url.pathname)
  }
}

function inside (root: string, path: string): boolean {
  const rel = relative(root, path)
  return rel === '' || (!rel.startsWith('..' + sep) && rel !== '..' && !isAbsolute(rel))
}
