/**
 * The payment gateway on a real node (127.0.0.1, mDNS off): simulated payments, and Stripe webhooks
 * signed with the stripe library's own `generateTestHeaderString` — valid, replayed, concurrent,
 * reordered, tampered, stale, wrongly signed and rotated secrets. A bad delivery changes nothing: no
 * receipt op, the same state hash.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import Stripe from 'stripe'
import { accountId, toHex } from '@microgrid/protocol'
import { ManualClock } from '@microgrid/core'
import { Island, RETAIL_PRICE, WHOLESALE_PRICE } from '@microgrid/core/testing'
import type { MicrogridNode } from '@microgrid/node'
import {
  PaymentInputError, PaymentUnavailableError, WebhookPayloadError, WebhookSignatureError, paymentGateway, type PaymentGateway
} from '../src/payments.ts'
import { Cluster } from './cluster.ts'

const SECRET = 'whsec_test_current'
const OLD_SECRET = 'whsec_test_previous'

let cluster: Cluster
let island: Island
let clock: ManualClock
let node: MicrogridNode
let gateway: PaymentGateway

beforeEach(async () => {
  cluster = new Cluster()
  island = new Island({ seed: 'payments', producers: 1, residents: 2 })
  clock = new ManualClock(island.clock.now() + 60_000)
  node = await cluster.start({ genesis: island.genesis, clock })
  for (const op of island.ops) expect((await node.submit(op)).status).toBe('applied')
  gateway = paymentGateway({ node, oracle: island.oracle, currency: 'usd', clock, stripe: { secrets: [SECRET, OLD_SECRET], toleranceSec: 300 } })
})
afterEach(async () => {
  await gateway.stop()
  await cluster.stopAll()
})

const producer = (): string => accountId(island.producers[0]!.account.publicKey)
const utility = (): string => accountId(island.utility.publicKey)
const resident = (i = 0): string => accountId(island.residents[i]!.publicKey)
const oracleLength = (): number => node.ledger.state.chain(island.oracle.publicKey).length

let events = 0
/** A `payment_intent.succeeded` event as Stripe sends it (trimmed to what the gateway reads and a bit more). */
function paymentIntentEvent (pi: string, metadata: Record<string, string>, amount: number, currency = 'usd'): string {
  return JSON.stringify({
    id: `evt_${++events}`,
    object: 'event',
    api_version: '2025-10-29.clover',
    created: Math.floor(clock.now() / 1000),
    type: 'payment_intent.succeeded',
    livemode: false,
    data: {
      object: {
        id: pi, object: 'payment_intent', amount, amount_received: amount, currency, status: 'succeeded', metadata
      }
    }
  }, null, 2)
}

const sign = (payload: string, secret = SECRET, timestamp = Math.floor(clock.now() / 1000)): string =>
  Stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp })

const wholesale = (pi: string, cents = 40): string => paymentIntentEvent(pi, { payer: utility(), payee: producer(), contract: 'wholesale-seller' }, cents)
const retail = (pi: string, cents = 100, who = 0): string => paymentIntentEvent(pi, { payer: resident(who), payee: utility(), contract: 'retail-seller' }, cents)

/** Runs `bad`, which must throw `type`, and checks that nothing changed on the node. */
async function expectNothingChanged (bad: () => Promise<unknown>, type: new (...args: never[]) => Error, message?: RegExp): Promise<Error> {
  const hash = node.stateHash()
  const length = oracleLength()
  const err = await bad().then(() => undefined, (e: unknown) => e as Error)
  expect(err).toBeInstanceOf(type)
  if (message !== undefined) expect(err?.message).toMatch(message)
  expect(oracleLength()).toBe(length)
  expect(node.stateHash()).toBe(hash)
  return err as Error
}

describe('simulated payments', () => {
  it('signs a receipt with the oracle key at the price the payee shows, and a payment id given twice signs nothing', async () => {
    const r = await gateway.simulate({ payer: utility(), payee: producer(), contract: 'wholesale-seller', amountMinor: 120, paymentId: 'sim_1' })
    expect(r).toMatchObject({ paymentId: 'sim_1', oracle: accountId(island.oracle.publicKey), duplicate: false })
    expect(r.result?.status).toBe('applied')
    const receipt = node.ledger.state.receiptAt(island.oracle.publicKey, r.seq)
    expect(receipt).toMatchObject({ amount: 120, currency: 'USD', paymentId: 'sim_1', contract: 'wholesale-seller', price: WHOLESALE_PRICE })
    expect(toHex(node.ledger.state.chain(island.oracle.publicKey).idAt(r.seq))).toBe(r.id)

    const length = oracleLength()
    const again = await gateway.simulate({ payer: utility(), payee: producer(), contract: 'wholesale-seller', amountMinor: 120, paymentId: 'sim_1' })
    expect(again).toEqual({ paymentId: 'sim_1', oracle: r.oracle, seq: r.seq, id: r.id, duplicate: true })
    expect(oracleLength()).toBe(length)

    // Keys work as well as account ids; without a payment id one is made up.
    const fresh = await gateway.simulate({ payer: island.residents[0]!.publicKey, payee: island.utility.publicKey, contract: 'retail-seller', amountMinor: 250 })
    expect(fresh.paymentId).toMatch(/^sim_[0-9a-f]{24}$/)
    expect(node.ledger.state.receiptAt(island.oracle.publicKey, fresh.seq)?.price).toBe(RETAIL_PRICE)
  })

  it('refuses bad input with a clear error and changes nothing', async () => {
    const ok = { payer: utility(), payee: producer(), contract: 'wholesale-seller' as const, amountMinor: 100 }
    await expectNothingChanged(async () => await gateway.simulate({ ...ok, payer: 'mg1nope' }), PaymentInputError, /payer: .*not valid bech32/)
    await expectNothingChanged(async () => await gateway.simulate({ ...ok, amountMinor: 0 }), PaymentInputError, /amount/)
    await expectNothingChanged(async () => await gateway.simulate({ ...ok, amountMinor: 1.5 }), PaymentInputError, /amount/)
    await expectNothingChanged(async () => await gateway.simulate({ ...ok, contract: 'resident' as never }), PaymentInputError, /contract/)
    await expectNothingChanged(async () => await gateway.simulate({ ...ok, payee: utility() }), PaymentInputError, /same account/)
    await expectNothingChanged(async () => await gateway.simulate({ ...ok, paymentId: 'x'.repeat(129) }), PaymentInputError, /payment id/)
    // Receipts that could never settle: a wholesale payment to a non-producer, from a non-utility.
    await expectNothingChanged(async () => await gateway.simulate({ ...ok, payer: resident(), payee: resident(1) }), PaymentInputError, /not a registered producer/)
    await expectNothingChanged(async () => await gateway.simulate({ ...ok, payer: resident() }), PaymentInputError, /not a registered utility/)
    await expectNothingChanged(async () => await gateway.simulate({ ...ok, contract: 'retail-seller', payee: resident(1), payer: resident() }), PaymentInputError, /utility or producer/)
  })

  it('refuses a key that is not an oracle and another currency at construction', () => {
    expect(() => paymentGateway({ node, oracle: island.utility, currency: 'USD' })).toThrow(/not a payment oracle/)
    expect(() => paymentGateway({ node, oracle: island.oracle, currency: 'EUR' })).toThrow(/trades in USD/)
    expect(() => paymentGateway({ node, oracle: island.oracle, currency: 'USD', stripe: { secrets: [] } })).toThrow(/secret/)
  })
})

describe('Stripe webhooks', () => {
  it('receipts a valid payment_intent.succeeded: payer, payee and contract from the metadata, the PaymentIntent id as payment id', async () => {
    const payload = wholesale('pi_valid', 40)
    const r = await gateway.stripeWebhook(new TextEncoder().encode(payload), sign(payload))
    expect(r).toMatchObject({ status: 'receipted', type: 'payment_intent.succeeded', paymentId: 'pi_valid', duplicate: false })
    if (r.status === 'ignored') throw new Error('unreachable')
    expect(node.ledger.state.receiptAt(island.oracle.publicKey, r.seq)).toMatchObject({
      payer: island.utility.publicKey, payee: island.producers[0]!.account.publicKey, amount: 40, currency: 'USD', paymentId: 'pi_valid', price: WHOLESALE_PRICE
    })
    expect(gateway.receiptOf('pi_valid')).toMatchObject({ seq: r.seq, id: r.id })
  })

  it('receipts a replayed delivery once', async () => {
    const payload = retail('pi_replayed')
    const header = sign(payload)
    const first = await gateway.stripeWebhook(payload, header)
    const length = oracleLength()
    const hash = node.stateHash()
    for (let i = 0; i < 3; i++) {
      const again = await gateway.stripeWebhook(payload, header)
      expect(again).toMatchObject({ status: 'duplicate', paymentId: 'pi_replayed', duplicate: true })
      if (again.status !== 'ignored' && first.status !== 'ignored') expect(again.id).toBe(first.id)
    }
    // Stripe retries with a fresh signature and a new delivery: the same event, still once.
    clock.advance(60_000)
    expect((await gateway.stripeWebhook(payload, sign(payload))).status).toBe('duplicate')
    expect(oracleLength()).toBe(length)
    expect(node.stateHash()).toBe(hash)
  })

  it('receipts concurrent deliveries of one event once, and concurrent different payments without forking the oracle', async () => {
    const payload = retail('pi_concurrent')
    const header = sign(payload)
    const before = oracleLength()
    const results = await Promise.all(Array.from({ length: 8 }, async () => await gateway.stripeWebhook(payload, header)))
    expect(results.filter(r => r.status === 'receipted')).toHaveLength(1)
    expect(results.filter(r => r.status === 'duplicate')).toHaveLength(7)
    expect(new Set(results.map(r => 'id' in r ? r.id : ''))).toHaveProperty('size', 1)
    expect(oracleLength()).toBe(before + 1)

    // Different payments at once (and the simulator meanwhile): each signed in turn, one chain, no fork.
    const payloads = Array.from({ length: 6 }, (_, i) => retail(`pi_burst_${i}`, 100 + i, i % 2))
    const burst = await Promise.all([
      ...payloads.map(async p => await gateway.stripeWebhook(p, sign(p))),
      gateway.simulate({ payer: resident(), payee: utility(), contract: 'retail-seller', amountMinor: 99, paymentId: 'sim_burst' })
    ])
    expect(burst.every(r => 'duplicate' in r && !r.duplicate)).toBe(true)
    expect(oracleLength()).toBe(before + 8)
    expect(node.ledger.state.equivocations).toEqual([])
    expect(node.ledger.state.pendingCount).toBe(0)
  })

  it('receipts reordered deliveries (the later payment first) each exactly once', async () => {
    const first = wholesale('pi_first', 40)
    const second = wholesale('pi_second', 80)
    const a = sign(first)
    clock.advance(5_000)
    const b = sign(second)
    expect((await gateway.stripeWebhook(second, b)).status).toBe('receipted')
    expect((await gateway.stripeWebhook(first, a)).status).toBe('receipted')
    expect((await gateway.stripeWebhook(second, b)).status).toBe('duplicate')
    expect((await gateway.stripeWebhook(first, a)).status).toBe('duplicate')
    const ids = [...node.ledger.state.receipts()].map(r => r.receipt.paymentId).sort()
    expect(ids).toEqual(['pi_first', 'pi_second'])
  })

  it('refuses a tampered body', async () => {
    const payload = wholesale('pi_tampered', 40)
    const header = sign(payload)
    const tampered = payload.replace('"amount_received": 40', '"amount_received": 4000')
    expect(tampered).not.toBe(payload)
    await expectNothingChanged(async () => await gateway.stripeWebhook(tampered, header), WebhookSignatureError, /does not verify/)
    // A body re-serialized by a JSON parser is not the raw body either.
    await expectNothingChanged(async () => await gateway.stripeWebhook(JSON.stringify(JSON.parse(payload)), header), WebhookSignatureError)
    expect(gateway.receiptOf('pi_tampered')).toBeUndefined()
  })

  it('refuses a stale delivery (older than the tolerance), and accepts one just inside it', async () => {
    const payload = wholesale('pi_stale', 40)
    const header = sign(payload, SECRET, Math.floor(clock.now() / 1000) - 301)
    await expectNothingChanged(async () => await gateway.stripeWebhook(payload, header), WebhookSignatureError, /older than the 300 s tolerance/)
    const fresh = sign(payload, SECRET, Math.floor(clock.now() / 1000) - 290)
    expect((await gateway.stripeWebhook(payload, fresh)).status).toBe('receipted')
  })

  it('refuses a delivery signed with another secret, or with no signature', async () => {
    const payload = wholesale('pi_wrong', 40)
    await expectNothingChanged(async () => await gateway.stripeWebhook(payload, sign(payload, 'whsec_someone_else')), WebhookSignatureError, /any configured secret/)
    await expectNothingChanged(async () => await gateway.stripeWebhook(payload, undefined), WebhookSignatureError, /header is missing/)
    await expectNothingChanged(async () => await gateway.stripeWebhook(payload, 't=123,v0=abc'), WebhookSignatureError)
  })

  it('accepts the second secret while one is rotated out', async () => {
    const payload = retail('pi_rotation')
    expect((await gateway.stripeWebhook(payload, sign(payload, OLD_SECRET))).status).toBe('receipted')
    const onlyNew = paymentGateway({ node, oracle: island.oracle, currency: 'USD', clock, stripe: { secrets: [SECRET] } })
    const other = retail('pi_rotation_2')
    await expectNothingChanged(async () => await onlyNew.stripeWebhook(other, sign(other, OLD_SECRET)), WebhookSignatureError)
    await onlyNew.stop()
  })

  it('refuses a verified event with bad metadata (400) and ignores events that are not grid payments', async () => {
    const bad = async (metadata: Record<string, string>, re: RegExp, currency = 'usd', amount = 100): Promise<void> => {
      const payload = paymentIntentEvent(`pi_bad_${++events}`, metadata, amount, currency)
      await expectNothingChanged(async () => await gateway.stripeWebhook(payload, sign(payload)), WebhookPayloadError, re)
    }
    const ok = { payer: resident(), payee: utility(), contract: 'retail-seller' }
    await bad({ ...ok, payer: 'not-an-account' }, /payer/)
    await bad({ ...ok, payee: `${utility().slice(0, -1)}x` }, /payee/)
    await bad({ ...ok, contract: 'resident' }, /contract/)
    await bad({ payer: resident(), contract: 'retail-seller' }, /payee/)
    await bad(ok, /currency: the grid trades in USD/, 'eur')
    await bad(ok, /amount/, 'usd', 0)
    // Upper-case account ids (as printed for a QR code) are fine.
    const upper = paymentIntentEvent('pi_upper', { ...ok, payer: resident().toUpperCase() }, 100, 'USD')
    expect((await gateway.stripeWebhook(upper, sign(upper))).status).toBe('receipted')

    const hash = node.stateHash()
    const other = JSON.stringify({ id: 'evt_other', object: 'event', type: 'customer.created', data: { object: { id: 'cus_1', object: 'customer' } } })
    expect(await gateway.stripeWebhook(other, sign(other))).toMatchObject({ status: 'ignored', eventId: 'evt_other' })
    const unrelated = paymentIntentEvent('pi_shop', { order: '42' }, 500)
    expect(await gateway.stripeWebhook(unrelated, sign(unrelated))).toMatchObject({ status: 'ignored', reason: /no microgrid metadata/ })
    expect(node.stateHash()).toBe(hash)
  })

  it('receipts a paid checkout session under its PaymentIntent id, once with the payment_intent.succeeded of the same payment', async () => {
    const metadata = { payer: resident(), payee: utility(), contract: 'retail-seller' }
    const session = (status: string): string => JSON.stringify({
      id: `evt_cs_${status}`, object: 'event', type: 'checkout.session.completed',
      data: { object: { id: 'cs_test_1', object: 'checkout.session', payment_intent: 'pi_checkout', payment_status: status, amount_total: 300, currency: 'usd', metadata } }
    })
    const unpaid = session('unpaid')
    expect(await gateway.stripeWebhook(unpaid, sign(unpaid))).toMatchObject({ status: 'ignored' })
    const paid = session('paid')
    expect(await gateway.stripeWebhook(paid, sign(paid))).toMatchObject({ status: 'receipted', paymentId: 'pi_checkout' })
    const pi = paymentIntentEvent('pi_checkout', metadata, 300)
    expect(await gateway.stripeWebhook(pi, sign(pi))).toMatchObject({ status: 'duplicate', paymentId: 'pi_checkout' })
  })

  it('says Stripe is not configured on a gateway without secrets', async () => {
    const plain = paymentGateway({ node, oracle: island.oracle, currency: 'USD' })
    const payload = retail('pi_unconfigured')
    await expectNothingChanged(async () => await plain.stripeWebhook(payload, sign(payload)), PaymentUnavailableError, /not configured/)
    await plain.stop()
  })
})
