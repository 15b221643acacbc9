/** The API's write endpoints: actions signed with the node's keys, submitted ops, payments. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { accountId, decodeOp, toHex, type OpSigner, type PublicKey } from '@microgrid/protocol'
import { fundsOf } from '@microgrid/core'
import { Island } from '@microgrid/core/testing'
import { json, signAt, startFixture, type Fixture } from './api-fixture.ts'

let f: Fixture
const simulated: unknown[] = []
const webhooks: Array<{ raw: string, signature: string | undefined }> = []

beforeAll(async () => {
  f = await startFixture({
    seed: 'api-write',
    components: {
      payments: {
        // Plays the payment service: the oracle's node signs the receipt.
        simulate: async p => {
          simulated.push(p)
          return await f.node.sign(f.isl.oracle, 'receipt', { payer: p.payer, payee: p.payee, contract: p.contract, amount: p.amountMinor, currency: 'USD', paymentId: p.paymentId ?? `pi_sim_${simulated.length}` })
        },
        stripeWebhook: async (raw, signature) => {
          const text = typeof raw === 'string' ? raw : new TextDecoder().decode(raw)
          if (signature !== 't=1,v1=good') throw new Error('No signatures found matching the expected signature for payload')
          webhooks.push({ raw: text, signature })
          return { received: true, id: (JSON.parse(text) as { id: string }).id }
        }
      }
    }
  })
})
afterAll(async () => { await f?.stop() })

const balance = (s: OpSigner | PublicKey): number => f.node.ledger.state.balance('publicKey' in s ? s.publicKey : s)

describe('POST /actions/fund', () => {
  it('moves units from the resident key to the device and shows in /devices', async () => {
    const r0 = f.isl.residents[0]!
    const device = f.isl.devices[1]!
    const before = balance(r0)
    const res = await f.post('/api/v1/actions/fund', { device: f.id(device.meter), wh: 500 })
    expect(res.status).toBe(200)
    const body = await json(res)
    expect(body).toMatchObject({ status: 'applied', kind: 'transfer', author: f.id(r0), funds: { usableNowWh: 500, generalWh: 500 } })
    expect(decodeOp(Buffer.from(body.op, 'hex')).op.body).toMatchObject({ contract: 'resident', wh: 500 })
    expect(balance(r0)).toBe(before - 500)
    expect(balance(device.meter)).toBe(500)
    const d = await json(await f.get(`/api/v1/devices/${f.id(device.meter)}`))
    expect(d.funds).toMatchObject({ usableNowWh: 500, funders: [{ funder: f.id(r0), putWh: 500, heldWh: 500 }] })
  })

  it('funds for a window given as ISO times, which /devices shows upcoming', async () => {
    const light = f.isl.devices[2]!
    const from = new Date(f.isl.clock.now() + 3_600_000).toISOString()
    const until = f.isl.clock.now() + 7_200_000
    const res = await f.post('/api/v1/actions/fund', { device: f.id(light.meter), wh: 200, window: { from, until } })
    expect(res.status).toBe(200)
    const d = await json(await f.get(`/api/v1/devices/${f.id(light.meter)}`))
    expect(d.funds.windows).toEqual([{ funder: f.id(f.isl.residents[0]!), from: Date.parse(from), until, remainingWh: 200, state: 'upcoming', declared: false }])
    expect(d.funds.usableNowWh).toBe(0)
    expect(d.funds.nextChange).toBe(Date.parse(from))
  })

  it('refuses more than the resident holds with the ledger\'s reason (422), signing nothing', async () => {
    const hash = f.node.stateHash()
    const seq = f.node.ledger.state.chain(f.isl.residents[0]!.publicKey).length
    const res = await f.post('/api/v1/actions/fund', { device: f.id(f.isl.devices[0]!.meter), wh: 1_000_000 })
    expect(res.status).toBe(422)
    const e = await json(res)
    expect(e.error.code).toBe('insufficient-funds')
    expect(e.error.message).toMatch(/1000000 Wh asked, \d+ Wh transferable/)
    expect(f.node.stateHash()).toBe(hash)
    expect(f.node.ledger.state.chain(f.isl.residents[0]!.publicKey).length).toBe(seq)
  })

  it('signs with the key named in "as", and refuses a name it does not have', async () => {
    const res = await f.post('/api/v1/actions/fund', { device: f.id(f.isl.devices[0]!.meter), wh: 100, as: 'utility' })
    expect(res.status).toBe(200)
    expect((await json(res)).author).toBe(f.id(f.isl.utility))
    const bad = await f.post('/api/v1/actions/fund', { device: f.id(f.isl.devices[0]!.meter), wh: 100, as: 'mallory' })
    expect(bad.status).toBe(400)
    expect((await json(bad)).error).toMatchObject({ code: 'unknown-signer', message: expect.stringMatching(/body\.as: .*mallory.*resident/) })
  })
})

describe('concurrent actions', () => {
  it('sign one after another: ten fundings at once never fork the resident\'s chain', async () => {
    const r0 = f.isl.residents[0]!
    const start = f.node.ledger.state.chain(r0.publicKey).length
    const before = balance(r0)
    const results = await Promise.all(Array.from({ length: 10 }, async (_, i) => await f.post('/api/v1/actions/fund', { device: f.id(f.isl.devices[i % 2]!.meter), wh: 10 })))
    expect(results.map(r => r.status)).toEqual(Array(10).fill(200))
    const seqs = (await Promise.all(results.map(async r => (await json(r)).seq as number))).sort((a, b) => a - b)
    expect(seqs).toEqual(Array.from({ length: 10 }, (_, i) => start + i))
    expect(balance(r0)).toBe(before - 100)
    expect(f.node.ledger.state.equivocations.filter(e => e.author === toHex(r0.publicKey))).toEqual([])
  })
})

describe('POST /actions/price, /register, /unfreeze', () => {
  it('sets a price with the key named, and asks which when several fit', async () => {
    const ambiguous = await f.post('/api/v1/actions/price', { retail: 13_000 })
    expect(ambiguous.status).toBe(400)
    expect((await json(ambiguous)).error.code).toBe('signer-required')
    const res = await f.post('/api/v1/actions/price', { retail: 13_000, as: 'utility' })
    expect(res.status).toBe(200)
    const prices = await json(await f.get('/api/v1/prices'))
    expect(prices.sellers[0]).toMatchObject({ account: f.id(f.isl.utility), retail: { minorPerMWh: 13_000, dollarsPerKWh: 0.13 }, wholesale: null })
    const notSeller = await f.post('/api/v1/actions/price', { retail: 13_000, as: 'resident' })
    expect(notSeller.status).toBe(422)
    expect((await json(notSeller)).error.code).toBe('not-seller')
  })

  it('registers a consumer device with a map position in degrees, a producer and a utility', async () => {
    const lamp = f.isl.signer('new-lamp')
    const res = await f.post('/api/v1/actions/register', { role: 'consumer', meter: f.id(lamp), label: 'Plaza lamp', category: 'street-light', position: [18.4655, -66.1057] })
    expect(res.status).toBe(200)
    expect(await json(res)).toMatchObject({ status: 'applied', kind: 'register', author: f.id(f.isl.registrar) })
    const d = await json(await f.get(`/api/v1/devices/${f.id(lamp)}`))
    expect(d).toMatchObject({ label: 'Plaza lamp', category: 'street-light', position: { lat: 18.4655, lon: -66.1057 }, funds: { usableNowWh: 0 } })
    const again = await f.post('/api/v1/actions/register', { role: 'consumer', meter: f.id(lamp), label: 'Plaza lamp', category: 'street-light', position: null })
    expect(again.status).toBe(422)
    expect((await json(again)).error.code).toBe('already-registered')
    const solar = await f.post('/api/v1/actions/register', { role: 'producer', account: f.id(f.isl.signer('farm')), meter: f.id(f.isl.signer('farm/meter')), capacityW: 20_000, label: 'Solar farm' })
    expect(solar.status).toBe(200)
    const util = await f.post('/api/v1/actions/register', { role: 'utility', account: f.id(f.isl.signer('coop')), label: 'Co-op' })
    expect(util.status).toBe(200)
    const { accounts } = await json(await f.get('/api/v1/accounts?role=producer'))
    expect(accounts.map((a: { label: string }) => a.label).sort()).toEqual(['Rooftop 0', 'Solar farm'])
  })

  it('lifts the freeze of a fork', async () => {
    const cheat = f.isl.signer('restored-wallet')
    const ts = f.isl.clock.now()
    const to = f.isl.devices[0]!.meter.publicKey
    for (const wh of [1, 2]) await f.node.submit(signAt(f.isl, cheat, 'transfer', { contract: 'resident', to, wh, receipt: null, window: null }, 0, null, ts).bytes)
    expect((await json(await f.get('/api/v1/forks'))).frozen.map((x: { account: string }) => x.account)).toContain(f.id(cheat))
    const res = await f.post('/api/v1/actions/unfreeze', { account: f.id(cheat), seq: 0 })
    expect(res.status).toBe(200)
    expect(await json(res)).toMatchObject({ status: 'applied', kind: 'unfreeze' })
    const forks = await json(await f.get('/api/v1/forks'))
    expect(forks.forks.find((x: { author: string }) => x.author === f.id(cheat))).toMatchObject({ seq: 0, lifted: true })
    expect(forks.frozen.map((x: { account: string }) => x.account)).not.toContain(f.id(cheat))
    const again = await f.post('/api/v1/actions/unfreeze', { account: f.id(cheat), seq: 0 })
    expect(again.status).toBe(409)
    expect((await json(again)).error.code).toBe('already-lifted')
  })
})

describe('POST /ops', () => {
  it('accepts a signed op (hex or base64) and reports the ledger\'s result', async () => {
    const r1 = f.isl.residents[1]!
    // resident 1 has nothing: its op is signed by hand from the node's view
    const seq = f.node.ledger.state.chain(r1.publicKey).length
    const op = signAt(f.isl, r1, 'price', { wholesale: null, retail: 1 }, seq, null, f.isl.clock.now())
    const res = await f.post('/api/v1/ops', { op: Buffer.from(op.bytes).toString('base64') })
    // a resident may not set prices: the op is rejected by the rules (and keeps its position)
    expect(res.status).toBe(422)
    const e = await json(res)
    expect(e.error.code).toBe('not-seller')
    expect(e.result).toMatchObject({ status: 'rejected', id: toHex(op.id), kind: 'price', author: f.id(r1), seq })
    const dup = await f.post('/api/v1/ops', { op: toHex(op.bytes) })
    expect(dup.status).toBe(200)
    expect((await json(dup)).status).toBe('duplicate')
    // an op that applies: the island's next beacon
    const beacon = signAt(f.isl, f.isl.oracle, 'beacon', {}, f.node.ledger.state.chain(f.isl.oracle.publicKey).length,
      f.node.ledger.state.chain(f.isl.oracle.publicKey).idAt(f.node.ledger.state.chain(f.isl.oracle.publicKey).length - 1), f.isl.clock.now() + 1)
    const ok = await f.post('/api/v1/ops', { op: toHex(beacon.bytes) })
    expect(ok.status).toBe(200)
    expect(await json(ok)).toMatchObject({ status: 'applied', kind: 'beacon', id: toHex(beacon.id) })
  })

  it('holds an op whose past is missing (202 pending)', async () => {
    const r2 = f.isl.signer('later')
    const op = signAt(f.isl, r2, 'beacon', {}, 1, new Uint8Array(32).fill(7), f.isl.clock.now())
    const res = await f.post('/api/v1/ops', { op: toHex(op.bytes) })
    expect(res.status).toBe(202)
    expect(await json(res)).toMatchObject({ status: 'pending', seq: 1, missing: [{ account: accountId(r2.publicKey), seq: 0 }] })
  })

  it('refuses malformed and forged ops with 400, changing nothing', async () => {
    const hash = f.node.stateHash()
    const cases: Array<[unknown, string]> = [
      [{ op: 'not hex!' }, 'bad-encoding'],
      [{ op: 'a16176' }, 'invalid-op'],
      [{ op: toHex(new Uint8Array(5000)) }, 'bad-request'],
      [{}, 'bad-request'],
      [{ op: 42 }, 'bad-request'],
      [{ op: 'aa', extra: 1 }, 'bad-request']
    ]
    for (const [body, code] of cases) {
      const res = await f.post('/api/v1/ops', body)
      expect(res.status, JSON.stringify(body)).toBe(400)
      expect((await json(res)).error.code, JSON.stringify(body)).toBe(code)
    }
    // forged: a transfer from the utility signed by the resident's key
    const u = f.node.ledger.state.chain(f.isl.utility.publicKey)
    const real = signAt(f.isl, f.isl.utility, 'transfer', { contract: 'resident', to: f.isl.devices[0]!.meter.publicKey, wh: 5_000, receipt: null, window: null }, u.length, u.idAt(u.length - 1), f.isl.clock.now())
    const forged = Uint8Array.from(real.bytes)
    forged[forged.length - 5]! ^= 1 // a bit of the signature
    const res = await f.post('/api/v1/ops', { op: toHex(forged) })
    expect(res.status).toBe(400)
    expect((await json(res)).error).toMatchObject({ code: 'invalid-op', message: expect.stringMatching(/signature/) })
    // an op of another grid, and another grid's genesis
    const other = new Island({ seed: 'elsewhere' })
    for (const bytes of [other.ops[0]!, other.genesis]) {
      const res = await f.post('/api/v1/ops', { op: toHex(bytes) })
      expect(res.status).toBe(400)
      expect((await json(res)).error.code).toBe('other-grid')
    }
    expect(f.node.stateHash()).toBe(hash)
  })
})

describe('payments', () => {
  it('POST /payments/simulate: the oracle signs a receipt for an amount in dollars', async () => {
    const r1 = f.isl.residents[1]!
    const res = await f.post('/api/v1/payments/simulate', { payer: f.id(r1), payee: f.id(f.isl.utility), contract: 'retail-seller', amountDollars: 1.3, paymentId: 'pi_page_1' })
    expect(res.status).toBe(200)
    const body = await json(res)
    expect(body.result).toMatchObject({ status: 'applied', kind: 'receipt', author: f.id(f.isl.oracle) })
    expect(simulated.at(-1)).toMatchObject({ contract: 'retail-seller', amountMinor: 130, paymentId: 'pi_page_1' })
    const { receipts } = await json(await f.get('/api/v1/receipts?settled=false'))
    expect(receipts.find((r: { paymentId: string }) => r.paymentId === 'pi_page_1')).toMatchObject({ amountMinor: 130, amountDollars: 1.3, wh: 10_000, settled: false })
  })

  it('POST /actions/buy: this node\'s resident key pays the seller', async () => {
    const res = await f.post('/api/v1/actions/buy', { seller: f.id(f.isl.utility), amount: 260 })
    expect(res.status).toBe(200)
    expect(simulated.at(-1)).toMatchObject({ payer: f.isl.residents[0]!.publicKey, payee: f.isl.utility.publicKey, contract: 'retail-seller', amountMinor: 260 })
  })

  it('refuses payments that could never settle, changing nothing', async () => {
    const hash = f.node.stateHash()
    const r1 = f.id(f.isl.residents[1]!)
    const cases: Array<[unknown, number, string]> = [
      [{ payer: r1, payee: f.id(f.isl.utility), contract: 'wholesale-seller', amountMinor: 100 }, 422, 'not-seller'],
      [{ payer: r1, payee: f.id(f.isl.producers[0]!.account), contract: 'wholesale-seller', amountMinor: 100 }, 422, 'not-utility'],
      [{ payer: r1, payee: r1, contract: 'retail-seller', amountMinor: 100 }, 422, 'self-transfer'],
      [{ payer: r1, payee: f.id(f.isl.signer('stranger')), contract: 'retail-seller', amountMinor: 100 }, 404, 'unknown-account'],
      [{ payer: r1, payee: f.id(f.isl.utility), contract: 'retail-seller', amountDollars: 1.234 }, 400, 'bad-request'],
      [{ payer: r1, payee: f.id(f.isl.utility), contract: 'retail-seller', amountDollars: 1, amountMinor: 100 }, 400, 'bad-request'],
      [{ payer: r1, payee: f.id(f.isl.utility), contract: 'retail-seller' }, 400, 'bad-request'],
      [{ payer: 'mg1x', payee: f.id(f.isl.utility), contract: 'retail-seller', amountMinor: 1 }, 400, 'bad-request'],
      [{ payer: r1, payee: f.id(f.isl.utility), contract: 'gift', amountMinor: 1 }, 400, 'bad-request']
    ]
    for (const [body, status, code] of cases) {
      const res = await f.post('/api/v1/payments/simulate', body)
      expect(res.status, JSON.stringify(body)).toBe(status)
      expect((await json(res)).error.code, JSON.stringify(body)).toBe(code)
    }
    expect(f.node.stateHash()).toBe(hash)
  })

  it('POST /payments/stripe: the raw body reaches the service without a token; a bad signature is a 400', async () => {
    const raw = '{"id":"evt_1",  "type":"payment_intent.succeeded","data":{"object":{"metadata":{}}}}\n'
    const ok = await f.app.request('/api/v1/payments/stripe', { method: 'POST', headers: { 'Content-Type': 'application/json', 'Stripe-Signature': 't=1,v1=good' }, body: raw })
    expect(ok.status).toBe(200)
    expect(await json(ok)).toEqual({ result: { received: true, id: 'evt_1' } })
    expect(webhooks.at(-1)!.raw).toBe(raw) // byte for byte, spaces and newline included
    const bad = await f.app.request('/api/v1/payments/stripe', { method: 'POST', headers: { 'Content-Type': 'application/json', 'Stripe-Signature': 't=1,v1=bad' }, body: raw })
    expect(bad.status).toBe(400)
    expect((await json(bad)).error).toMatchObject({ code: 'payment-refused', message: expect.stringMatching(/signature/) })
    const none = await f.app.request('/api/v1/payments/stripe', { method: 'POST', body: 'not json' })
    expect(none.status).toBe(400)
    expect(webhooks).toHaveLength(1)
  })
})

describe('bad input on every write endpoint', () => {
  it('gets a 4xx JSON error naming what is wrong, and the state hash does not change', async () => {
    const hash = f.node.stateHash()
    const dev = f.id(f.isl.devices[0]!.meter)
    const res0 = f.id(f.isl.residents[0]!)
    const cases: Array<[string, unknown, number, RegExp]> = [
      ['/api/v1/actions/fund', {}, 400, /body\.device/],
      ['/api/v1/actions/fund', { device: dev }, 400, /body\.wh/],
      ['/api/v1/actions/fund', { device: dev, wh: -5 }, 400, /body\.wh/],
      ['/api/v1/actions/fund', { device: dev, wh: 1.5 }, 400, /body\.wh/],
      ['/api/v1/actions/fund', { device: dev, wh: '10' }, 400, /body\.wh/],
      ['/api/v1/actions/fund', { device: 'mg1qqqq', wh: 10 }, 400, /body\.device/],
      ['/api/v1/actions/fund', { device: res0, wh: 10 }, 404, /body\.device/],
      ['/api/v1/actions/fund', { device: dev, wh: 10, window: { from: 10, until: 5 } }, 400, /window\.until/],
      ['/api/v1/actions/fund', { device: dev, wh: 10, window: { from: 1, until: 2 } }, 400, /ended/],
      ['/api/v1/actions/fund', { device: dev, wh: 10, window: { from: 'yesterday', until: 'tomorrow' } }, 400, /window\.from/],
      ['/api/v1/actions/fund', { device: dev, wh: 10, colour: 'red' }, 400, /colour/],
      ['/api/v1/actions/fund', '{"device":', 400, /JSON/],
      ['/api/v1/actions/price', { as: 'producer' }, 400, /wholesale or a retail/],
      ['/api/v1/actions/price', { retail: 0, as: 'producer' }, 400, /body\.retail/],
      ['/api/v1/actions/price', { retail: 'cheap', as: 'producer' }, 400, /body\.retail/],
      ['/api/v1/actions/register', { role: 'wizard' }, 400, /body\.role/],
      ['/api/v1/actions/register', { role: 'consumer', meter: dev, label: '', category: 'household', position: null }, 400, /body\.label/],
      ['/api/v1/actions/register', { role: 'consumer', meter: f.id(f.isl.signer('x')), label: 'x', category: 'castle', position: null }, 400, /body\.category/],
      ['/api/v1/actions/register', { role: 'consumer', meter: f.id(f.isl.signer('x')), label: 'x', category: 'household', position: [91, 0] }, 400, /body\.position/],
      ['/api/v1/actions/register', { role: 'consumer', meter: f.id(f.isl.signer('x')), label: 'x'.repeat(129), category: 'household', position: null }, 400, /body\.label/],
      ['/api/v1/actions/register', { role: 'producer', account: res0, meter: res0, capacityW: 10, label: 'x' }, 400, /body\.meter/],
      ['/api/v1/actions/register', { role: 'producer', account: res0, meter: f.id(f.isl.signer('m')), capacityW: 0, label: 'x' }, 400, /body\.capacityW/],
      ['/api/v1/actions/register', { role: 'utility', account: dev, label: 'x' }, 422, /registered/],
      ['/api/v1/actions/register', { role: 'utility', account: f.id(f.isl.signer('u2')), label: 'x', as: 'resident' }, 422, /registrar/],
      ['/api/v1/actions/unfreeze', { account: res0 }, 400, /body\.seq/],
      ['/api/v1/actions/unfreeze', { account: res0, seq: 0 }, 422, /no fork/],
      ['/api/v1/actions/unfreeze', { account: f.id(f.isl.signer('ghost')), seq: 0 }, 404, /body\.account/],
      ['/api/v1/actions/buy', { seller: f.id(f.isl.utility) }, 400, /body\.amount/],
      ['/api/v1/actions/buy', { seller: f.id(f.isl.utility), amount: 100, contract: 'gift' }, 400, /body\.contract/],
      ['/api/v1/actions/buy', { seller: f.id(f.isl.residents[1]!), amount: 100 }, 404, /body\.seller/],
      ['/api/v1/actions/buy', { seller: f.id(f.isl.utility), amount: 100, contract: 'wholesale-seller', as: 'resident' }, 422, /wholesale sellers/],
      ['/api/v1/ops', { op: '' }, 400, /body\.op/],
      ['/api/v1/payments/simulate', { payer: res0 }, 400, /body\./]
    ]
    for (const [path, body, status, message] of cases) {
      const res = await f.post(path, body)
      const text = JSON.stringify(body)
      expect(res.status, `${path} ${text}`).toBe(status)
      expect(res.headers.get('content-type'), `${path} ${text}`).toMatch(/application\/json/)
      const e = await json(res)
      expect(e.error.code, `${path} ${text}`).toEqual(expect.any(String))
      expect(e.error.message, `${path} ${text}`).toMatch(message)
    }
    // not JSON at all
    const form = await f.app.request('/api/v1/actions/fund', { method: 'POST', headers: { Authorization: `Bearer ${'test-token-0123456789abcdef'}`, 'Content-Type': 'text/plain' }, body: 'wh=5' })
    expect(form.status).toBe(415)
    expect((await json(form)).error.code).toBe('unsupported-media-type')
    const big = await f.post('/api/v1/ops', { op: 'a'.repeat(100_000) })
    expect(big.status).toBe(413)
    expect(f.node.stateHash()).toBe(hash)
    expect(fundsOf(f.node.ledger.state, f.isl.devices[0]!.meter.publicKey, f.isl.clock.now()).usableNow).toBeGreaterThan(0)
  })
})

describe('without a payment service', () => {
  it('answers 501 on the payment endpoints', async () => {
    const g = await startFixture({ seed: 'api-nopay' })
    try {
      const sim = await g.post('/api/v1/payments/simulate', { payer: g.id(g.isl.residents[1]!), payee: g.id(g.isl.utility), contract: 'retail-seller', amountMinor: 100 })
      expect(sim.status).toBe(501)
      expect((await json(sim)).error.code).toBe('no-payments')
      const buy = await g.post('/api/v1/actions/buy', { seller: g.id(g.isl.utility), amount: 100 })
      expect(buy.status).toBe(501)
      const hook = await g.app.request('/api/v1/payments/stripe', { method: 'POST', body: '{}', headers: { 'Stripe-Signature': 'x' } })
      expect(hook.status).toBe(501)
    } finally {
      await g.stop()
    }
  })
})
