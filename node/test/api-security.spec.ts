/** The API's front door: token, Host (DNS rebinding), Origin (CORS closed), over a real socket too. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serveApi, type ServedApi } from '../src/api/index.ts'
import { auth, json, rawRequest, startFixture, TOKEN, type Fixture } from './api-fixture.ts'

let f: Fixture
let served: ServedApi
beforeAll(async () => {
  f = await startFixture({ seed: 'api-security' })
  served = await serveApi(f.app)
})
afterAll(async () => {
  await served?.close()
  await f?.stop()
})

const noAcao = (headers: Headers | Record<string, unknown>): void => {
  const names = headers instanceof Headers ? [...headers.keys()] : Object.keys(headers)
  expect(names.filter(n => n.toLowerCase().startsWith('access-control-'))).toEqual([])
}

describe('token', () => {
  it('refuses a request without a token, or with a wrong one, with 401 JSON', async () => {
    const cases: Array<Record<string, string>> = [{}, { Authorization: 'Bearer wrong-token' }, { Authorization: `Basic ${TOKEN}` }, { Authorization: `Bearer ${TOKEN}x` }]
    for (const headers of cases) {
      const res = await f.app.request('/api/v1/status', { headers })
      expect(res.status, JSON.stringify(headers)).toBe(401)
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/)
      expect((await json(res)).error.code).toBe('unauthorized')
    }
    for (const method of ['POST']) {
      const res = await f.app.request('/api/v1/actions/fund', { method, headers: { 'Content-Type': 'application/json' }, body: '{}' })
      expect(res.status).toBe(401)
    }
  })

  it('takes ?token= on GET (EventSource), not on other methods', async () => {
    expect((await f.app.request(`/api/v1/status?token=${TOKEN}`)).status).toBe(200)
    expect((await f.app.request('/api/v1/status?token=nope')).status).toBe(401)
    const post = await f.app.request(`/api/v1/actions/fund?token=${TOKEN}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' })
    expect(post.status).toBe(401)
  })

  it('answers unknown routes with 404 JSON (after the token)', async () => {
    const res = await f.get('/api/v1/nothing-here')
    expect(res.status).toBe(404)
    expect((await json(res)).error.code).toBe('not-found')
    expect((await f.app.request('/api/v1/nothing-here')).status).toBe(401)
  })
})

describe('Host and Origin', () => {
  it('refuses a Host it does not answer to (DNS rebinding), even with the token', async () => {
    const res = await f.get('/api/v1/status', { Host: 'attacker.example' })
    expect(res.status).toBe(421)
    expect((await json(res)).error.code).toBe('host-not-allowed')
    expect((await f.get('/api/v1/status', { Host: 'localhost' })).status).toBe(200)
  })

  it('refuses a request from another origin and never sends CORS headers', async () => {
    const res = await f.get('/api/v1/status', { Origin: 'http://attacker.example' })
    expect(res.status).toBe(403)
    expect((await json(res)).error.code).toBe('cross-origin')
    noAcao(res.headers)
    const preflight = await f.app.request('/api/v1/actions/fund', { method: 'OPTIONS', headers: { Origin: 'http://attacker.example', 'Access-Control-Request-Method': 'POST' } })
    expect(preflight.status).toBe(403)
    noAcao(preflight.headers)
    const same = await f.get('/api/v1/status', { Origin: 'http://localhost' })
    expect(same.status).toBe(200)
    noAcao(same.headers)
    expect((await f.get('/api/v1/status', { Origin: 'null' })).status).toBe(403)
  })
})

describe('over a real socket', () => {
  it('serves on 127.0.0.1 with the token', async () => {
    expect(served.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const res = await fetch(`${served.url}/api/v1/status`, { headers: auth })
    expect(res.status).toBe(200)
    const s = await res.json() as { stateHash: string }
    expect(s.stateHash).toBe(f.node.stateHash())
    expect((await fetch(`${served.url}/api/v1/status`)).status).toBe(401)
    // localhost with the port is the same server
    const local = await rawRequest(`${served.url}/api/v1/status`, { headers: { ...auth, Host: `localhost:${served.port}` } })
    expect(local.status).toBe(200)
  })

  it('refuses another Host and another Origin on the wire', async () => {
    const rebound = await rawRequest(`${served.url}/api/v1/status`, { headers: { ...auth, Host: `attacker.example:${served.port}` } })
    expect(rebound.status).toBe(421)
    expect(JSON.parse(rebound.body).error.code).toBe('host-not-allowed')
    const wrongPort = await rawRequest(`${served.url}/api/v1/status`, { headers: { ...auth, Host: `127.0.0.1:${served.port + 1}` } })
    expect(wrongPort.status).toBe(421)
    const cross = await rawRequest(`${served.url}/api/v1/status`, { headers: { ...auth, Origin: 'http://evil.example' } })
    expect(cross.status).toBe(403)
    noAcao(cross.headers)
    const own = await rawRequest(`${served.url}/api/v1/status`, { headers: { ...auth, Origin: served.url } })
    expect(own.status).toBe(200)
    noAcao(own.headers)
  })

  it('submits a signed op and a fund action over the wire', async () => {
    const res = await fetch(`${served.url}/api/v1/actions/fund`, {
      method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: JSON.stringify({ device: f.id(f.isl.devices[1]!.meter), wh: 250 })
    })
    expect(res.status).toBe(200)
    expect(f.node.ledger.state.balance(f.isl.devices[1]!.meter.publicKey)).toBe(250)
    expect(res.headers.get('cache-control')).toBe('no-store')
    const bad = await fetch(`${served.url}/api/v1/ops`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: '{"op":"00"}' })
    expect(bad.status).toBe(400)
    // a chunked body (no Content-Length) is read and limited too
    const chunked = await rawRequest(`${served.url}/api/v1/actions/fund`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: JSON.stringify({ device: f.id(f.isl.devices[1]!.meter), wh: 50 }) })
    expect(chunked.status, chunked.body).toBe(200)
    const huge = await rawRequest(`${served.url}/api/v1/actions/fund`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: `{"device":"${'x'.repeat(200_000)}"}` })
    expect(huge.status).toBe(413)
    expect(JSON.parse(huge.body).error.code).toBe('body-too-large')
    const declared = await rawRequest(`${served.url}/api/v1/ops`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json', 'Content-Length': '100000' }, body: 'x'.repeat(100_000) })
    expect(declared.status).toBe(413)
  })

  it('LAN mode binds every interface with the same token', async () => {
    const lan = await serveApi(f.app, { lan: true })
    try {
      const res = await fetch(`${lan.url}/api/v1/status`, { headers: auth })
      expect(res.status).toBe(200)
      expect((await fetch(`${lan.url}/api/v1/status`)).status).toBe(401)
      for (const url of lan.lanUrls) expect((await fetch(`${url}/api/v1/status`, { headers: auth })).status).toBe(200)
    } finally {
      await lan.close()
    }
    // the loopback server still answers; the LAN server's hosts are gone
    expect((await fetch(`${served.url}/api/v1/status`, { headers: auth })).status).toBe(200)
  })
})
