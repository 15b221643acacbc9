/**
 * The API over the node's real payment gateway and settlement service (node/src/payments.ts,
 * settlement.ts): a simulated payment becomes a receipt the seller's node settles in units; Stripe
 * webhooks signed with the stripe library reach the gateway byte for byte over a real socket.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import Stripe from 'stripe'
import { accountId } from '@microgrid/protocol'
import { paymentGateway, type PaymentGateway } from '../src/payments.ts'
import { settlementService, type SettlementService } from '../src/settlement.ts'
import { serveApi, type ServedApi } from '../src/api/index.ts'
import { auth, json, rawRequest, startFixture, type Fixture } from './api-fixture.ts'

const SECRET = 'whsec_api_test'
let f: Fixture
let gateway: PaymentGateway
let settlement: SettlementService
let served: ServedApi

beforeAll(async () => {
  f = await startFixture({
    seed: 'api-services',
    components: (node, isl, signers) => {
      gateway = paymentGateway({ node, oracle: isl.oracle, currency: 'USD', stripe: { secrets: [SECRET] } })
      settlement = settlementService({ node, sellers: [signers.get('utility')!, signers.get('producer')!] })
      return { payments: gateway, settlement }
    }
  })
  served = await serveApi(f.app)
})
afterAll(async () => {
  await served?.close()
  await settlement?.stop()
  await gateway?.stop()
  await f?.stop()
})

async function until (condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

describe('payments through the real gateway and settlement', () => {
  it('a simulated payment in dollars is receipted, settled by the seller\'s node, and shows everywhere', async () => {
    const r1 = f.isl.residents[1]!
    // at start the utility's node settled the island's open receipt (2,000 Wh to resident 1)
    await until(() => f.node.ledger.state.isSettled('pi_unsettled'), 'the settlement at start')
    const before = f.node.ledger.state.balance(r1.publicKey)
    const res = await f.post('/api/v1/payments/simulate', { payer: f.id(r1), payee: f.id(f.isl.utility), contract: 'retail-seller', amountDollars: 0.5, paymentId: 'pi_api_1' })
    expect(res.status).toBe(200)
    const { result } = await json(res)
    expect(result).toMatchObject({ paymentId: 'pi_api_1', oracle: f.id(f.isl.oracle), duplicate: false, result: { status: 'applied', kind: 'receipt' } })
    await until(() => f.node.ledger.state.isSettled('pi_api_1'), 'the sale')
    // 50 ¢ at 12,500 ¢/MWh = 4,000 Wh
    expect((await json(await f.get(`/api/v1/accounts/${f.id(r1)}`))).balanceWh).toBe(before + 4_000)
    const { receipts } = await json(await f.get('/api/v1/receipts'))
    expect(receipts.find((r: { paymentId: string }) => r.paymentId === 'pi_api_1')).toMatchObject({ settled: true, wh: 4_000, mine: false })
    // the same payment id again: the existing receipt, nothing signed
    const hash = f.node.stateHash()
    const again = await json(await f.post('/api/v1/payments/simulate', { payer: f.id(r1), payee: f.id(f.isl.utility), contract: 'retail-seller', amountMinor: 50, paymentId: 'pi_api_1' }))
    expect(again.result).toMatchObject({ paymentId: 'pi_api_1', duplicate: true })
    expect(f.node.stateHash()).toBe(hash)
  })

  it('POST /actions/buy: the resident key buys from the producer, whose node settles', async () => {
    const r0 = f.isl.residents[0]!
    const before = f.node.ledger.state.balance(r0.publicKey)
    const res = await f.post('/api/v1/actions/buy', { seller: f.id(f.isl.producers[0]!.account), amount: 24, paymentId: 'pi_api_buy' })
    expect(res.status).toBe(200)
    expect((await json(res)).result).toMatchObject({ paymentId: 'pi_api_buy', duplicate: false })
    await until(() => f.node.ledger.state.isSettled('pi_api_buy'), 'the sale')
    // 24 ¢ at the producer's 12,000 ¢/MWh = 2,000 Wh
    expect(f.node.ledger.state.balance(r0.publicKey)).toBe(before + 2_000)
  })

  it('GET /receipts carries the settlement service\'s verdict on what it cannot settle yet', async () => {
    // the utility holds nothing left to sell: a $1 retail payment (8,000 Wh) waits for energy
    const res = await f.post('/api/v1/payments/simulate', { payer: f.id(f.isl.residents[2]!), payee: f.id(f.isl.utility), contract: 'retail-seller', amountMinor: 100, paymentId: 'pi_api_wait' })
    expect(res.status).toBe(200)
    const { receipts } = await json(await f.get('/api/v1/receipts?settled=false'))
    expect(receipts.find((r: { paymentId: string }) => r.paymentId === 'pi_api_wait')).toMatchObject({
      settled: false, settleable: false, reason: 'insufficient-funds', wh: 8_000, mine: true
    })
  })
})

describe('the Stripe webhook over a real socket', () => {
  let n = 0
  const event = (cents: number): string => JSON.stringify({
    id: `evt_api_${++n}`, object: 'event', type: 'payment_intent.succeeded',
    data: { object: { id: `pi_stripe_${n}`, object: 'payment_intent', amount: cents, amount_received: cents, currency: 'usd', status: 'succeeded', metadata: { payer: accountId(f.isl.utility.publicKey), payee: accountId(f.isl.producers[0]!.account.publicKey), contract: 'wholesale-seller' } } }
  }, null, 2)
  const header = (payload: string): string => Stripe.webhooks.generateTestHeaderString({ payload, secret: SECRET, timestamp: Math.floor(Date.now() / 1000) })
  const deliver = async (payload: string, signature: string, extra: Record<string, string> = {}): Promise<{ status: number, body: string }> =>
    await rawRequest(`${served.url}/api/v1/payments/stripe`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Stripe-Signature': signature, ...extra }, body: payload })

  it('receipts a signed event once (no token needed), and refuses a tampered one with 400', async () => {
    const payload = event(16)
    const signature = header(payload)
    const ok = await deliver(payload, signature)
    expect(ok.status, ok.body).toBe(200)
    expect(JSON.parse(ok.body).result).toMatchObject({ status: 'receipted', paymentId: 'pi_stripe_1', duplicate: false })
    await until(() => f.node.ledger.state.isSettled('pi_stripe_1'), 'the wholesale sale')
    const replay = await deliver(payload, signature)
    expect(replay.status).toBe(200)
    expect(JSON.parse(replay.body).result).toMatchObject({ status: 'duplicate', paymentId: 'pi_stripe_1' })
    const hash = f.node.stateHash()
    const tampered = await deliver(payload.replace('"amount_received": 16', '"amount_received": 1600'), signature)
    expect(tampered.status).toBe(400)
    expect(JSON.parse(tampered.body).error.code).toBe('bad-signature')
    const unsigned = await deliver(event(16), '')
    expect(unsigned.status).toBe(400)
    const notJson = await deliver('hello', header('hello'))
    expect(notJson.status).toBe(400)
    expect(JSON.parse(notJson.body).error.code).toBe('bad-payload')
    // the Host and Origin rules still apply
    const rebound = await deliver(event(16), signature, { Host: 'attacker.example' })
    expect(rebound.status).toBe(421)
    expect(f.node.stateHash()).toBe(hash)
  })

  it('the same delivery works in-process with the raw body', async () => {
    const payload = event(8)
    const res = await f.app.request('/api/v1/payments/stripe', { method: 'POST', headers: { 'Content-Type': 'application/json', 'Stripe-Signature': header(payload) }, body: payload })
    expect(res.status).toBe(200)
    expect((await json(res)).result).toMatchObject({ status: 'receipted' })
    void auth
  })
})
