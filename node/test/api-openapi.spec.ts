/** The OpenAPI document the node serves: it parses, and lists every route the app answers. */
import { readdir, readFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { json, startFixture, type Fixture } from './api-fixture.ts'

let f: Fixture
beforeAll(async () => { f = await startFixture({ seed: 'api-openapi' }) })
afterAll(async () => { await f?.stop() })

const ROUTES = [
  'get /api/v1/status', 'get /api/v1/accounts', 'get /api/v1/accounts/{id}', 'get /api/v1/accounts/{id}/history',
  'get /api/v1/devices', 'get /api/v1/devices/{id}', 'get /api/v1/prices', 'get /api/v1/receipts', 'get /api/v1/forks',
  'post /api/v1/ops', 'post /api/v1/actions/fund', 'post /api/v1/actions/price', 'post /api/v1/actions/register',
  'post /api/v1/actions/unfreeze', 'post /api/v1/actions/buy', 'post /api/v1/payments/simulate', 'post /api/v1/payments/stripe',
  'get /api/v1/events', 'post /api/v1/replica', 'get /api/v1/simulator', 'post /api/v1/simulator/switch', 'get /api/v1/openapi.json'
]

describe('GET /api/v1/openapi.json', () => {
  it('is an OpenAPI 3.1 document listing every route the app serves', async () => {
    const res = await f.get('/api/v1/openapi.json')
    expect(res.status).toBe(200)
    const doc = JSON.parse(await res.text())
    expect(doc.openapi).toBe('3.1.0')
    expect(doc.info).toMatchObject({ title: 'Microgrid node API', version: '1.0.0' })
    const listed = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) => Object.keys(ops).map(m => `${m} ${path}`))
    expect(listed.sort()).toEqual([...ROUTES].sort())
    // every route the Hono app registered is in the document
    const served = f.app.routes
      .filter(r => r.method !== 'ALL')
      .map(r => `${r.method.toLowerCase()} ${r.path.replace(/:([^/]+)/g, '{$1}')}`)
    for (const r of new Set(served)) expect(listed, r).toContain(r)
    // a bearer token everywhere but the Stripe webhook
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' })
    expect(doc.security).toEqual([{ bearerAuth: [] }])
    expect(doc.paths['/api/v1/payments/stripe'].post.security).toEqual([])
    // schemas with descriptions, errors documented
    for (const name of ['Account', 'Device', 'OpResult', 'Error', 'FundAction', 'RegisterAction', 'Receipt', 'Fork']) expect(doc.components.schemas, name).toHaveProperty(name)
    expect(doc.paths['/api/v1/actions/fund'].post.responses['422'].content['application/json'].schema.$ref).toBe('#/components/schemas/Error')
    expect(doc.paths['/api/v1/accounts/{id}'].get.parameters).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'id', in: 'path', required: true })]))
    // every $ref resolves
    const refs = JSON.stringify(doc).match(/"\$ref":"#\/components\/schemas\/[^"]+"/g) ?? []
    for (const ref of new Set(refs)) expect(doc.components.schemas, ref).toHaveProperty(ref.split('/').at(-1)!.replace('"', ''))
  })

  it('docs/API.md has a section for every route', async () => {
    const doc = await readFile(new URL('../../docs/API.md', import.meta.url), 'utf8')
    for (const r of ROUTES) {
      const [method, path] = r.split(' ') as [string, string]
      expect(doc, r).toContain(`### ${method.toUpperCase()} ${path.replace('/api/v1', '')}\n`)
    }
  })

  it('docs/API.md\'s errors table has every error code the API answers, at its status, and no code it never answers', async () => {
    const doc = await readFile(new URL('../../docs/API.md', import.meta.url), 'utf8')
    const table = doc.slice(doc.indexOf('## Errors'), doc.indexOf('\n---', doc.indexOf('## Errors')))
    const codesIn = (cell: string): string[] => [...cell.matchAll(/`([a-z-]+)`/g)].map(c => c[1]!)
    // A row's codes are in its code column; the rules' row ("a ledger rule's code") lists them under "when".
    const rows = [...table.matchAll(/^\| (\d{3}) \| ([^|]+) \| (.*) \|$/gm)]
      .map(m => ({ status: Number(m[1]), codes: codesIn(m[2]!).length > 0 ? codesIn(m[2]!) : codesIn(m[3]!) }))
    expect(rows.length).toBeGreaterThan(10)
    // The codes the source answers with literally: `new ApiError(status, 'code', …)` and `c.json(errorBody('code', …), status)`.
    const dir = new URL('../src/api/', import.meta.url)
    const files = (await readdir(dir, { recursive: true })).filter(name => name.endsWith('.ts'))
    const source = (await Promise.all(files.map(async name => await readFile(new URL(name, dir), 'utf8')))).join('\n')
    const used = [
      ...[...source.matchAll(/new ApiError\((\d{3}), '([a-z-]+)'/g)].map(m => ({ status: Number(m[1]), code: m[2]! })),
      ...[...source.matchAll(/errorBody\('([a-z-]+)',[\s\S]*?\),\s*(\d{3})\)/g)].map(m => ({ status: Number(m[2]), code: m[1]! }))
    ]
    for (const code of ['no-simulator', 'unknown-meter', 'host-not-allowed', 'unauthorized', 'not-found', 'body-too-large', 'bad-request', 'internal']) {
      expect(used.map(u => u.code), code).toContain(code) // the patterns still find what they should
    }
    for (const { status, code } of used) {
      expect(rows.some(r => r.status === status && r.codes.includes(code)), `${status} ${code}`).toBe(true)
    }
    // And the other way: each code the table names (but the rules' codes of core) is one the source answers with.
    for (const r of rows) {
      for (const code of r.codes) {
        if (r.status === 422 && code !== 'no-fork') continue // the ledger rules' codes, RejectCode in core
        expect(source, `${r.status} ${code}`).toContain(`'${code}'`)
      }
    }
  })

  it('needs the token like every route', async () => {
    expect((await f.app.request('/api/v1/openapi.json')).status).toBe(401)
    expect((await json(await f.app.request('/api/v1/openapi.json'))).error.code).toBe('unauthorized')
  })
})
