/**
 * microgrid-app://app/: the built UI's files with their types and the CSP, traversal refused, unknown
 * paths 404, and /api/ forwarded to the node without the page's Origin or cookies.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { UI_CSP } from '@microgrid/node'
import { appProtocolHandler } from '../src/main/app-protocol.ts'
import { APP_ORIGIN, APP_SCHEME_PRIVILEGES, CONTENT_SECURITY_POLICY, isAppUrl, mimeTypeOf } from '../src/main/app-scheme.ts'

const SECRET = 'the keys of the node'
const WASM = Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00])
let dir: string
let handler: (request: Request) => Promise<Response>

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'microgrid-scheme-'))
  const renderer = join(dir, 'renderer')
  await mkdir(join(renderer, 'assets'), { recursive: true })
  await writeFile(join(renderer, 'index.html'), '<!doctype html><title>Microgrid</title>')
  await writeFile(join(renderer, 'assets', 'index-B2x9.js'), 'console.log("app")')
  await writeFile(join(renderer, 'assets', 'zxing_reader.wasm'), WASM)
  await writeFile(join(dir, 'secret.txt'), SECRET)
  await symlink(join(dir, 'secret.txt'), join(renderer, 'assets', 'leak.txt'))
  handler = appProtocolHandler({ rendererDir: renderer, apiUrl: () => undefined })
})

afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

const get = async (path: string, init?: RequestInit): Promise<Response> => await handler(new Request(`${APP_ORIGIN}${path}`, init))

function expectSecurityHeaders (res: Response): void {
  expect(res.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY)
  expect(res.headers.get('x-content-type-options')).toBe('nosniff')
  expect(res.headers.get('referrer-policy')).toBe('no-referrer')
}

describe('the app scheme', () => {
  it('is registered standard, secure and fetchable, and its CSP keeps everything on its own origin', () => {
    expect(APP_SCHEME_PRIVILEGES).toMatchObject({ standard: true, secure: true, supportFetchAPI: true, bypassCSP: false, corsEnabled: false })
    const directives = Object.fromEntries(CONTENT_SECURITY_POLICY.split('; ').map(d => [d.split(' ')[0], d.split(' ').slice(1).join(' ')]))
    expect(directives['default-src']).toBe("'self'")
    expect(directives['connect-src']).toBe("'self'")
    expect(directives['script-src']).toBe("'self' 'wasm-unsafe-eval'")
    expect(directives['object-src']).toBe("'none'")
    expect(directives['frame-ancestors']).toBe("'none'")
    // Only images may come from elsewhere, over https (a map's tile source, when one is set).
    expect(directives['img-src']).toBe("'self' data: blob: https:")
    expect(CONTENT_SECURITY_POLICY.replace("img-src 'self' data: blob: https:", '')).not.toMatch(/ 'unsafe-eval'|https?:|\*/)
  })

  it('allows style from the app\'s own files only, no inline style, and is the CSP a node serves the same UI under', () => {
    const directives = Object.fromEntries(CONTENT_SECURITY_POLICY.split('; ').map(d => [d.split(' ')[0], d.split(' ').slice(1).join(' ')]))
    expect(directives['style-src']).toBe("'self'")
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/'unsafe-inline'|'sha(256|384|512)-|'nonce-/)
    expect(directives['base-uri']).toBe("'none'")
    expect(directives['form-action']).toBe("'none'")
    expect(CONTENT_SECURITY_POLICY).toBe(UI_CSP)
  })

  it('knows its origin exactly', () => {
    expect(isAppUrl('microgrid-app://app/index.html')).toBe(true)
    expect(isAppUrl('microgrid-app://app')).toBe(true)
    for (const url of ['microgrid-app://evil/index.html', 'microgrid-app://app.evil/', 'https://app/', 'file:///index.html', 'microgrid-app://user@app/', 'not a url', undefined]) {
      expect(isAppUrl(url), String(url)).toBe(false)
    }
  })

  it('serves index.html at / and for paths without a file extension', async () => {
    for (const path of ['/', '/index.html', '/resident', '/explorer/accounts']) {
      const res = await get(path)
      expect(res.status, path).toBe(200)
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
      expect(res.headers.get('cache-control')).toBe('no-cache')
      expectSecurityHeaders(res)
      expect(await res.text()).toContain('<title>Microgrid</title>')
    }
  })

  it('serves assets with their types, WebAssembly included, cached for good', async () => {
    const js = await get('/assets/index-B2x9.js')
    expect(js.status).toBe(200)
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8')
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
    expectSecurityHeaders(js)
    const wasm = await get('/assets/zxing_reader.wasm')
    expect(wasm.headers.get('content-type')).toBe('application/wasm')
    expect(new Uint8Array(await wasm.arrayBuffer())).toEqual(WASM)
    const head = await get('/assets/zxing_reader.wasm', { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(head.headers.get('content-length')).toBe(String(WASM.length))
    expect((await head.arrayBuffer()).byteLength).toBe(0)
    expect(mimeTypeOf('a/b.WASM')).toBe('application/wasm')
    expect(mimeTypeOf('a/b.css')).toBe('text/css; charset=utf-8')
    expect(mimeTypeOf('a.dir/noext')).toBe('application/octet-stream')
  })

  it('answers 404 for unknown files and hosts', async () => {
    const missing = await get('/assets/missing.js')
    expect(missing.status).toBe(404)
    expectSecurityHeaders(missing)
    expect(await missing.json()).toMatchObject({ error: { code: 'not-found' } })
    expect((await handler(new Request('microgrid-app://other/index.html'))).status).toBe(404)
  })

  it('never serves a file outside the renderer directory', async () => {
    for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/assets/..%2f..%2fsecret.txt', '/%2e%2e%2f%2e%2e%2fsecret.txt', '/..%5csecret.txt', '/assets/leak.txt', '/%00.js', '/%E0%A4%A']) {
      const res = await get(path)
      expect([400, 403, 404], path).toContain(res.status)
      expectSecurityHeaders(res)
      expect(await res.text(), path).not.toContain(SECRET)
    }
    expect((await get('/assets/leak.txt')).status).toBe(403)
    expect((await get('/..%5csecret.txt')).status).toBe(400)
  })

  it('refuses to write', async () => {
    const res = await get('/index.html', { method: 'POST', body: 'x' })
    expect(res.status).toBe(405)
  })
})

describe('the app scheme forwarding /api/ to the node', () => {
  interface Seen { url: string, method: string, headers: Headers, body: string }

  function forwarding (reply: (seen: Seen) => Response | Promise<Response>, running = true): { handler: typeof handler, seen: Seen[] } {
    const seen: Seen[] = []
    const fake = (async (input: string | URL | Request, init?: RequestInit) => {
      const s: Seen = { url: String(input), method: init?.method ?? 'GET', headers: new Headers(init?.headers), body: init?.body !== undefined ? Buffer.from(init.body as ArrayBuffer).toString('utf8') : '' }
      seen.push(s)
      return await reply(s)
    }) as typeof fetch
    return { handler: appProtocolHandler({ rendererDir: dir, apiUrl: () => running ? 'http://127.0.0.1:4321' : undefined, fetch: fake }), seen }
  }

  it('passes the method, path, query, token and body, never the Origin or cookies, and streams the answer back', async () => {
    const { handler: h, seen } = forwarding(() => new Response('{"ok":true}', { status: 202, headers: { 'content-type': 'application/json', 'set-cookie': 'a=b', 'x-internal': '1' } }))
    const res = await h(new Request(`${APP_ORIGIN}/api/v1/actions/buy?dry=1`, {
      method: 'POST',
      body: '{"wh":1000}',
      headers: { authorization: 'Bearer t0k3n', 'content-type': 'application/json', origin: APP_ORIGIN, cookie: 'session=1', referer: `${APP_ORIGIN}/` }
    }))
    expect(seen).toHaveLength(1)
    const s = seen[0] as Seen
    expect(s.url).toBe('http://127.0.0.1:4321/api/v1/actions/buy?dry=1')
    expect(s.method).toBe('POST')
    expect(s.body).toBe('{"wh":1000}')
    expect(s.headers.get('authorization')).toBe('Bearer t0k3n')
    expect(s.headers.get('content-type')).toBe('application/json')
    expect(s.headers.get('origin')).toBeNull()
    expect(s.headers.get('cookie')).toBeNull()
    expect(s.headers.get('referer')).toBeNull()
    expect(res.status).toBe(202)
    expect(await res.json()).toEqual({ ok: true })
    expect(res.headers.get('content-type')).toBe('application/json')
    expect(res.headers.get('set-cookie')).toBeNull()
    expect(res.headers.get('x-internal')).toBeNull()
    expectSecurityHeaders(res)
  })

  it('streams an event stream as it comes', async () => {
    const encoder = new TextEncoder()
    let push: ((text: string) => void) | undefined
    const stream = new ReadableStream<Uint8Array>({ start: c => { push = text => c.enqueue(encoder.encode(text)) } })
    const { handler: h } = forwarding(() => new Response(stream, { headers: { 'content-type': 'text/event-stream' } }))
    const res = await h(new Request(`${APP_ORIGIN}/api/v1/replica`, { method: 'POST', body: '{}' }))
    expect(res.headers.get('content-type')).toBe('text/event-stream')
    const reader = (res.body as ReadableStream<Uint8Array>).getReader()
    push?.('event: hello\ndata: {"epoch":"e1"}\n\n')
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('event: hello\ndata: {"epoch":"e1"}\n\n')
    push?.(': keep-alive\n\n')
    expect(new TextDecoder().decode((await reader.read()).value)).toBe(': keep-alive\n\n')
    await reader.cancel()
  })

  it('says when the node is not running or does not answer, and refuses other methods', async () => {
    const stopped = forwarding(() => new Response(''), false)
    const r1 = await stopped.handler(new Request(`${APP_ORIGIN}/api/v1/status`))
    expect(r1.status).toBe(503)
    expect(await r1.json()).toMatchObject({ error: { code: 'node-not-running' } })
    expect(stopped.seen).toHaveLength(0)

    const down = forwarding(() => { throw new TypeError('fetch failed') })
    const r2 = await down.handler(new Request(`${APP_ORIGIN}/api/v1/status`))
    expect(r2.status).toBe(502)
    expect(await r2.json()).toMatchObject({ error: { code: 'node-unreachable' } })
    expectSecurityHeaders(r2)

    const any = forwarding(() => new Response(''))
    expect((await any.handler(new Request(`${APP_ORIGIN}/api/v1/status`, { method: 'DELETE' }))).status).toBe(405)
    const big = await any.handler(new Request(`${APP_ORIGIN}/api/v1/replica`, { method: 'POST', body: 'x'.repeat(1024 * 1024 + 1) }))
    expect(big.status).toBe(413)
    expect(any.seen).toHaveLength(0)
  })
})
