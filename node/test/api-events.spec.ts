/** `GET /events`: Server-Sent Events of applied ops, balance changes and meter reports. */
import { request as httpRequest } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { lpStream } from '@libp2p/utils'
import { decodeLightResponse, encodeLight, LIGHT_PROTOCOL, signReport } from '@microgrid/protocol'
import { MicrogridNode } from '../src/node.ts'
import { serveApi, type ServedApi } from '../src/api/index.ts'
import { auth, startFixture, TOKEN, type Fixture } from './api-fixture.ts'
import { parser, type SseEvent } from './sse.ts'

let f: Fixture
let served: ServedApi
beforeAll(async () => {
  f = await startFixture({ seed: 'api-events', api: { keepAliveMs: 100 } })
  served = await serveApi(f.app)
})
afterAll(async () => {
  await served?.close()
  await f?.stop()
})

describe('GET /events', () => {
  it('streams an op event and the balances it changed (in-process)', async () => {
    const res = await f.get('/api/v1/events')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/)
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
    const p = parser()
    const events: SseEvent[] = []
    const until = async (pred: () => boolean): Promise<void> => {
      const deadline = Date.now() + 10_000
      while (!pred()) {
        if (Date.now() > deadline) throw new Error(`no such event; got ${JSON.stringify(events)}`)
        const { value, done } = await reader.read()
        if (done) throw new Error('stream ended')
        events.push(...p.push(value))
      }
    }
    await until(() => events.some(e => e.event === 'ready'))
    expect(JSON.parse(events[0]!.data)).toEqual({ stateHash: f.node.stateHash(), decided: f.node.ledger.state.decidedCount })
    const device = f.isl.devices[0]!.meter
    const fund = await f.post('/api/v1/actions/fund', { device: f.id(device), wh: 400 })
    expect(fund.status).toBe(200)
    const { id } = await fund.json() as { id: string }
    await until(() => events.filter(e => e.event === 'balance').length >= 2)
    const op = events.find(e => e.event === 'op')!
    expect(JSON.parse(op.data)).toEqual({ status: 'applied', id, kind: 'transfer', author: f.id(f.isl.residents[0]!), seq: expect.any(Number), ts: expect.any(Number) })
    expect(Number(op.id)).toBeGreaterThan(0)
    const balances = events.filter(e => e.event === 'balance').map(e => JSON.parse(e.data))
    const state = f.node.ledger.state
    expect(balances).toEqual(expect.arrayContaining([
      { account: f.id(f.isl.residents[0]!), balanceWh: state.balance(f.isl.residents[0]!.publicKey), spendableWh: state.spendable(f.isl.residents[0]!.publicKey) },
      { account: f.id(device), balanceWh: state.balance(device.publicKey), spendableWh: state.spendable(device.publicKey) }
    ]))
    // keep-alive comments while nothing happens
    await until(() => p.comments.length > 0)
    expect(p.comments[0]).toBe(': keep-alive')
    await reader.cancel()
  })

  it('streams over a real socket with ?token=, including meter reports', async () => {
    const p = parser()
    const events: SseEvent[] = []
    let resolveSeen: () => void = () => {}
    const seen = new Promise<void>(resolve => { resolveSeen = resolve })
    let status = 0
    const req = httpRequest(`${served.url}/api/v1/events?token=${TOKEN}`, res => {
      status = res.statusCode ?? 0
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        events.push(...p.push(chunk))
        if (events.some(e => e.event === 'ready')) resolveSeen()
      })
    })
    req.end()
    await seen
    expect(status).toBe(200)
    // an op from elsewhere (a peer, a wallet): the producer's meter mints, after a beacon
    const before = events.length
    const mint = f.isl.mint(f.isl.producers[0]!, 1_000)
    for (const b of f.isl.ops.slice(f.isl.ops.indexOf(mint) - 1)) await f.node.submit(b)
    await waitForEvent(events, e => e.event === 'balance' && JSON.parse(e.data).account === f.id(f.isl.producers[0]!.account))
    const op = events.slice(before).find(e => e.event === 'op' && JSON.parse(e.data).kind === 'mint')
    expect(JSON.parse(op!.data)).toMatchObject({ status: 'applied', author: f.id(f.isl.producers[0]!.meter) })
    // a meter agent reports over the light protocol (a second node plays the agent)
    const agent = await MicrogridNode.start({ genesis: f.isl.genesis, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
    try {
      const device = f.isl.devices[1]!.meter
      const report = { at: f.isl.clock.now(), relay: false, reason: 'no funds', usableWh: 0, daysRemaining: null, watts: 0, warnings: [500], faults: [], queuedWh: 0 }
      const ask = async (request: Parameters<typeof encodeLight>[0]): Promise<ReturnType<typeof decodeLightResponse>> => {
        const stream = await agent.libp2p.dialProtocol(f.node.multiaddrs[0]!, LIGHT_PROTOCOL)
        const lp = lpStream(stream)
        await lp.write(encodeLight(request))
        const response = decodeLightResponse((await lp.read()).subarray())
        await stream.close()
        return response
      }
      // Signed by another key in the device's name: refused, nothing shown.
      const forged = { ...signReport(f.isl.signer('impostor'), f.isl.state.gridId, { ...report, relay: true }), device: device.publicKey }
      expect(await ask(forged)).toMatchObject({ t: 'error', message: expect.stringMatching(/report\.sig/) })
      expect(await ask(signReport(device, f.isl.state.gridId, report))).toEqual({ t: 'ok' })
      const meter = await waitForEvent(events, e => e.event === 'meter')
      expect(JSON.parse(meter.data)).toEqual({ device: f.id(device), ...report, peer: agent.peerId })
      const d = await (await fetch(`${served.url}/api/v1/devices/${f.id(device)}`, { headers: auth })).json() as { meter: unknown }
      expect(d.meter).toEqual({ ...report, peer: agent.peerId })
    } finally {
      await agent.stop()
    }
    req.destroy()
  })
})

async function waitForEvent (events: SseEvent[], pred: (e: SseEvent) => boolean, timeoutMs = 10_000): Promise<SseEvent> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const found = events.find(pred)
    if (found !== undefined) return found
    if (Date.now() > deadline) throw new Error(`no such event; got ${JSON.stringify(events)}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

