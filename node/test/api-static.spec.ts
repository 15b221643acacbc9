/** The built UI served at `/` beside the API: files, the single-page fallback, headers, and what stays guarded. */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeApi, createApi, serveApi, UI_CSP, type ServedApi } from '../src/api/index.ts'
import { cliRunning as cli } from './cli-process.ts'
import { auth, json, rawRequest, startFixture, TOKEN, type Fixture } from './api-fixture.ts'

let f: Fixture
let base: string
let ui: string
let served: ServedApi
const INDEX = '<!doctype html><title>Microgrid</title><script type="module" src="/assets/app-3f9a1c.js"></script>'
const WASM = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00])

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'microgrid-ui-'))
  ui = join(base, 'dist')
  await mkdir(join(ui, 'assets'), { recursive: true })
  await writeFile(join(ui, 'index.html'), INDEX)
  await writeFile(join(ui, 'assets', 'app-3f9a1c.js'), 'console.log("app")')
  await writeFile(join(ui, 'assets', 'app-3f9a1c.css'), 'body { margin: 0 }')
  await writeFile(join(ui, 'assets', 'zxing-77aa.wasm'), WASM)
  await writeFile(join(ui, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>')
  await writeFile(join(base, 'secret.txt'), 'the node keys are next door')
  f = await startFixture({ seed: 'api-static', api: { ui: { dir: ui } } })
  served = await serveApi(f.app)
})
afterAll(async () => {
  await served?.close()
  await f?.stop()
  await rm(base, { recursive: true, force: true })
})

/** A GET with no token at all. */
const open = async (path: string, init: RequestInit = {}): Promise<Response> => await f.app.request(path, init)

describe('the UI at /', () => {
  it('serves index.html at / without a token, with the CSP and no-cache', async () => {
    const res = await open('/')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(await res.text()).toBe(INDEX)
    expect(res.headers.get('content-security-policy')).toBe(UI_CSP)
    // no inline style (the UI's print frame links a stylesheet file), no form posts
    expect(UI_CSP).toBe("default-src 'self'; img-src 'self' data: blob: https:; style-src 'self'; connect-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'")
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.headers.get('referrer-policy')).toBe('no-referrer')
    expect(res.headers.get('cache-control')).toBe('no-cache')
  })

  it('serves its files with their content types, hashed assets cached for good', async () => {
    const js = await open('/assets/app-3f9a1c.js')
    expect(js.status).toBe(200)
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8')
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
    expect(js.headers.get('content-security-policy')).toBe(UI_CSP)
    expect(await js.text()).toBe('console.log("app")')
    const css = await open('/assets/app-3f9a1c.css')
    expect(css.headers.get('content-type')).toMatch(/^text\/css/)
    const wasm = await open('/assets/zxing-77aa.wasm')
    expect(wasm.status).toBe(200)
    expect(wasm.headers.get('content-type')).toBe('application/wasm')
    expect(new Uint8Array(await wasm.arrayBuffer())).toEqual(WASM)
    const icon = await open('/favicon.svg')
    expect(icon.headers.get('content-type')).toMatch(/^image\/svg\+xml/)
    expect(icon.headers.get('cache-control')).toBe('no-cache')
    const head = await open('/assets/app-3f9a1c.js', { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(head.headers.get('content-length')).toBe(String('console.log("app")'.length))
  })

  it('answers index.html for the app\'s own routes, 404 for a missing file', async () => {
    for (const path of ['/devices', '/devices/mg1q23qrw', '/map/', '/settings?tab=keys']) {
      const res = await open(path)
      expect(res.status, path).toBe(200)
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
      expect(res.headers.get('cache-control')).toBe('no-cache')
      expect(await res.text()).toBe(INDEX)
    }
    const missing = await open('/assets/app-000000.js')
    expect(missing.status).toBe(404)
    expect(await missing.text()).not.toContain('<title>')
  })

  it('refuses paths that step out of the directory', async () => {
    for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/assets/..%2fsecret.txt', '/assets/%2e%2e/%2e%2e/secret.txt', '/..%5csecret.txt', '/assets/..\\..\\secret.txt']) {
      const res = await rawRequest(`${served.url}${path}`)
      expect(res.status, path).toBeGreaterThanOrEqual(400)
      expect(res.body, path).not.toContain('next door')
    }
  })

  it('keeps the Host check on its files, and the token on every API route', async () => {
    const url = new URL(served.url)
    const rebound = await rawRequest(`${served.url}/`, { headers: { Host: `evil.example:${url.port}` } })
    expect(rebound.status).toBe(421)
    expect(rebound.body).not.toContain('<title>')
    const ok = await rawRequest(`${served.url}/`)
    expect(ok.status).toBe(200)
    expect(ok.headers['content-security-policy']).toBe(UI_CSP)

    expect((await open('/api/v1/status')).status).toBe(401)
    expect((await open('/api/v1/no-such-route')).status).toBe(401)
    const unknown = await open('/api/v1/no-such-route', { headers: auth })
    expect(unknown.status).toBe(404)
    expect((await json(unknown)).error.code).toBe('not-found')
    expect((await open('/', { method: 'POST', body: '{}' })).status).toBe(401)
    const status = await open('/api/v1/status', { headers: auth })
    expect(status.status).toBe(200)
    expect(status.headers.get('cache-control')).toBe('no-store')
  })

  it('refuses a directory without index.html, and serves nothing outside /api/v1 without a UI', async () => {
    expect(() => createApi({ node: f.node, token: TOKEN, signers: f.signers }, { ui: { dir: join(base, 'nope') } })).toThrow(/is not a directory/)
    expect(() => createApi({ node: f.node, token: TOKEN, signers: f.signers }, { ui: { dir: join(ui, 'assets') } })).toThrow(/holds no index\.html/)
    const plain = createApi({ node: f.node, token: TOKEN, signers: f.signers })
    try {
      expect((await plain.request('/')).status).toBe(401)
      expect((await plain.request('/', { headers: auth })).status).toBe(404)
    } finally {
      closeApi(plain)
    }
  })
})

describe('microgrid start --ui', () => {

  it('serves the UI at the API\'s URL and prints <url>/#token=<token>; a directory without index.html is exit 2', async () => {
    const data = join(base, 'node')
    process.env.MICROGRID_PASSPHRASE = 'static test passphrase'
    expect((await cli(['init', '--data', data, '--keys', 'registrar,oracle', '--light-kdf', '--api-port', '0', '--json'])).code).toBe(0)
    expect((await cli(['grid', 'create', '--data', data, '--name', 'Isla', '--currency', 'USD', '--json'])).code).toBe(0)
    const bad = await cli(['start', '--data', data, '--ui', join(ui, 'assets'), '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0'])
    expect(bad.code).toBe(2)
    expect(bad.err).toMatch(/--ui: .* holds no index\.html/)
    const run = await cli(['start', '--data', data, '--ui', ui, '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0', '--json'])
    try {
      expect(run.code).toBe(0)
      const result = JSON.parse(run.out) as { api: string, ui: string }
      const token = (JSON.parse(await readFile(join(data, 'config.json'), 'utf8')) as { api: { token: string } }).api.token
      expect(result.ui).toBe(`${result.api}/#token=${encodeURIComponent(token)}`)
      const page = await fetch(result.ui)
      expect(page.status).toBe(200)
      expect(page.headers.get('content-security-policy')).toBe(UI_CSP)
      expect(await page.text()).toBe(INDEX)
      expect((await fetch(`${result.api}/api/v1/status`)).status).toBe(401)
      expect((await fetch(`${result.api}/api/v1/status`, { headers: { Authorization: `Bearer ${token}` } })).status).toBe(200)
    } finally {
      await run.stop()
    }
  })
})
