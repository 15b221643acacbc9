/**
 * Settlement on real nodes (127.0.0.1, mDNS off): the seller's node signs the sale of a receipt naming
 * its key by itself, at the price the receipt recorded, once per payment id — when the receipt arrives,
 * and when it comes back after being offline. Receipts that cannot settle are reported, not spun on.
 */
import { afterEach, describe, expect, it } from 'vitest'
import Stripe from 'stripe'
import { accountId, decodeOp, type OpSigner } from '@microgrid/protocol'
import { ManualClock, OpStatus, opKey, whForPayment } from '@microgrid/core'
import { Island, RETAIL_PRICE, WHOLESALE_PRICE, type Producer } from '@microgrid/core/testing'
import type { MicrogridNode } from '@microgrid/node'
import { paymentGateway, type PaymentGateway } from '../src/payments.ts'
import { settlementService, type SettlementService } from '../src/settlement.ts'
import { Cluster, sleep, waitFor } from './cluster.ts'

let cluster: Cluster
const stops: Array<{ stop: () => Promise<void> }> = []
afterEach(async () => {
  await Promise.allSettled(stops.splice(0).map(async s => await s.stop()))
  await cluster.stopAll()
})

interface Grid { island: Island, producer: Producer, clock: ManualClock }

/** An island whose producer minted 30 kWh and sold 5 kWh to the utility (which can resell them). */
function grid (seed: string): Grid {
  const island = new Island({ seed, producers: 1, residents: 2 })
  const producer = island.producers[0]!
  for (let i = 0; i < 6; i++) island.mint(producer, 5_000)
  expect(island.sellWholesale(producer, 40).status).toBe('applied')
  return { island, producer, clock: new ManualClock(island.clock.now() + 60_000) }
}

async function startWith (g: Grid, init: Parameters<Cluster['start']>[0] = {}): Promise<MicrogridNode> {
  const node = await cluster.start({ genesis: g.island.genesis, clock: g.clock, ...init })
  for (const op of g.island.ops) expect(['applied', 'duplicate']).toContain((await node.submit(op)).status)
  return node
}

function settle (node: MicrogridNode, sellers: OpSigner[], clock: ManualClock): SettlementService {
  const s = settlementService({ node, sellers, clock })
  stops.push(s)
  return s
}

function gatewayOn (node: MicrogridNode, g: Grid, secrets?: string[]): PaymentGateway {
  const gw = paymentGateway({ node, oracle: g.island.oracle, currency: 'USD', clock: g.clock, ...(secrets !== undefined ? { stripe: { secrets } } : {}) })
  stops.push(gw)
  return gw
}

const settled = (node: MicrogridNode, paymentId: string): boolean => node.ledger.state.isSettled(paymentId)
const balance = (node: MicrogridNode, key: OpSigner): number => node.ledger.state.balance(key.publicKey)
const length = (node: MicrogridNode, key: OpSigner): number => node.ledger.state.chain(key.publicKey).length

/** The wire bytes of the op `node` holds at (key, seq). */
async function opBytes (node: MicrogridNode, key: OpSigner, seq: number): Promise<Uint8Array> {
  const c = node.ledger.state.chain(key.publicKey)
  const bytes = await node.ledger.storage.load(opKey(c.hex, seq, c.idAt(seq)))
  if (bytes === undefined) throw new Error('op not stored')
  return bytes
}

/** The sales (accepted transfers citing a receipt) in `seller`'s chain on `node`, in chain order. */
async function salesOf (node: MicrogridNode, seller: OpSigner): Promise<Array<{ wh: number, paymentId: string }>> {
  const out: Array<{ wh: number, paymentId: string }> = []
  const state = node.ledger.state
  const chain = state.chain(seller.publicKey)
  for (let seq = 0; seq < chain.length; seq++) {
    if (chain.status[seq] !== OpStatus.accepted) continue
    const { op } = decodeOp(await opBytes(node, seller, seq))
    if (op.kind !== 'transfer' || op.body.receipt === null) continue
    out.push({ wh: op.body.wh, paymentId: state.receiptAt(op.body.receipt[0], op.body.receipt[1])?.paymentId ?? '?' })
  }
  return out
}

describe('settlement', () => {
  it('a producer\'s node settles a utility\'s wholesale payment by itself, at the receipt\'s price even after raising its price', async () => {
    cluster = new Cluster()
    const g = grid('wholesale')
    const gatewayNode = await startWith(g)
    const producerNode = await startWith(g)
    await cluster.link(producerNode, gatewayNode)
    await cluster.gossipReady()
    const gateway = gatewayOn(gatewayNode, g)
    const utilityBefore = balance(gatewayNode, g.island.utility)

    const first = await gateway.simulate({ payer: g.island.utility.publicKey, payee: g.producer.account.publicKey, contract: 'wholesale-seller', amountMinor: 40, paymentId: 'pay_1' })
    await waitFor(() => producerNode.ledger.state.receiptAt(g.island.oracle.publicKey, first.seq) !== undefined)
    // The producer raises its price after being paid, before its node settles.
    expect((await producerNode.sign(g.producer.account, 'price', { wholesale: 2 * WHOLESALE_PRICE, retail: RETAIL_PRICE })).status).toBe('applied')
    const service = settle(producerNode, [g.producer.account], g.clock)
    await waitFor(() => settled(gatewayNode, 'pay_1'), { describe: () => JSON.stringify(service.unsettled()) })
    const wh1 = whForPayment(40, WHOLESALE_PRICE)
    expect(wh1).toBe(5_000)
    expect(balance(gatewayNode, g.island.utility)).toBe(utilityBefore + wh1)

    // A payment made once the gateway sees the new price buys at it.
    await waitFor(() => gatewayNode.ledger.state.chain(g.producer.account.publicKey).wholesale === 2 * WHOLESALE_PRICE)
    await gateway.simulate({ payer: accountId(g.island.utility.publicKey), payee: accountId(g.producer.account.publicKey), contract: 'wholesale-seller', amountMinor: 40, paymentId: 'pay_2' })
    await waitFor(() => settled(gatewayNode, 'pay_2'))
    expect(balance(gatewayNode, g.island.utility)).toBe(utilityBefore + wh1 + whForPayment(40, 2 * WHOLESALE_PRICE))

    expect(await salesOf(producerNode, g.producer.account)).toEqual([
      { wh: whForPayment(40, WHOLESALE_PRICE), paymentId: 'pi_wholesale_1' }, // the island's own sale
      { wh: 5_000, paymentId: 'pay_1' },
      { wh: 2_500, paymentId: 'pay_2' }
    ])
    expect(service.settled).toBe(2)
    expect(service.unsettled()).toEqual([])
    await cluster.converge([gatewayNode, producerNode])
    expect(cluster.invalidDataReports()).toEqual([])
  })

  it('a utility\'s node settles a resident\'s retail payment that arrived as a Stripe webhook on the gateway node', async () => {
    cluster = new Cluster()
    const g = grid('retail')
    const gatewayNode = await startWith(g)
    const utilityNode = await startWith(g)
    await cluster.link(utilityNode, gatewayNode)
    await cluster.gossipReady()
    settle(utilityNode, [g.island.utility], g.clock)
    const gateway = gatewayOn(gatewayNode, g, ['whsec_retail'])
    const resident = g.island.residents[0]!
    const payload = JSON.stringify({
      id: 'evt_retail', object: 'event', type: 'payment_intent.succeeded',
      data: { object: { id: 'pi_retail', object: 'payment_intent', amount: 50, amount_received: 50, currency: 'usd', metadata: { payer: accountId(resident.publicKey), payee: accountId(g.island.utility.publicKey), contract: 'retail-seller' } } }
    })
    const header = Stripe.webhooks.generateTestHeaderString({ payload, secret: 'whsec_retail', timestamp: Math.floor(g.clock.now() / 1000) })
    const t = performance.now()
    expect((await gateway.stripeWebhook(payload, header)).status).toBe('receipted')
    const wh = whForPayment(50, RETAIL_PRICE)
    await waitFor(() => balance(gatewayNode, resident) === wh, { every: 5 })
    console.log(`webhook to units on the gateway node (settled by the utility's node): ${(performance.now() - t).toFixed(0)} ms`)
    expect(await salesOf(utilityNode, g.island.utility)).toEqual([{ wh, paymentId: 'pi_retail' }])
    await cluster.converge([gatewayNode, utilityNode])
  })

  it('a seller node that was stopped when the receipt was made settles it when it comes back, and once only across restarts and repeats', async () => {
    cluster = new Cluster()
    const g = grid('offline')
    const dataDir = await cluster.tempDir()
    const gatewayNode = await startWith(g)
    let producerNode = await startWith(g, { dataDir })
    let service = settle(producerNode, [g.producer.account], g.clock)
    await service.stop()
    await cluster.stop(producerNode)

    const gateway = gatewayOn(gatewayNode, g)
    const r = await gateway.simulate({ payer: g.island.utility.publicKey, payee: g.producer.account.publicKey, contract: 'wholesale-seller', amountMinor: 40, paymentId: 'pay_offline' })
    g.clock.advance(3_600_000)
    expect(settleSvcUnsettled(gatewayNode, g)).toMatchObject([{ paymentId: 'pay_offline', mine: false, settleable: true, ageMs: 3_600_000 }])

    // Back from its data directory; the receipt comes with the first sync.
    producerNode = await cluster.start({ dataDir, clock: g.clock })
    service = settle(producerNode, [g.producer.account], g.clock)
    await cluster.link(producerNode, gatewayNode)
    await waitFor(() => settled(gatewayNode, 'pay_offline'), { describe: () => JSON.stringify(service.unsettled()) })
    const sales = await salesOf(producerNode, g.producer.account)
    expect(sales.filter(s => s.paymentId === 'pay_offline')).toEqual([{ wh: 5_000, paymentId: 'pay_offline' }])
    const chainLength = length(producerNode, g.producer.account)

    // The same receipt seen again (resubmitted, rescanned concurrently, a sync) signs nothing.
    expect((await producerNode.submit(await opBytes(gatewayNode, g.island.oracle, r.seq))).status).toBe('duplicate')
    for (const op of g.island.ops) await producerNode.submit(op)
    const again = await Promise.all([service.settleNow(), service.settleNow(), service.settleNow()])
    expect(again.flat()).toEqual([])
    await producerNode.pull(gatewayNode.peerId)
    await sleep(100)
    expect(length(producerNode, g.producer.account)).toBe(chainLength)

    // After another restart: still settled once.
    await service.stop()
    await cluster.stop(producerNode)
    producerNode = await cluster.start({ dataDir, clock: g.clock })
    service = settle(producerNode, [g.producer.account], g.clock)
    expect(await service.settleNow()).toEqual([])
    expect(length(producerNode, g.producer.account)).toBe(chainLength)
    expect(service.unsettled()).toEqual([])
    expect(service.settled).toBe(0)
  })

  it('reports a receipt the seller cannot cover yet without signing, and settles it once the energy arrives; a receipt with no price never', async () => {
    cluster = new Cluster()
    const g = grid('funds')
    // A producer registered without a price, and a resident's payment to it: its receipt records no price.
    const bare = { account: g.island.signer('bare'), meter: g.island.signer('bare/meter') }
    g.island.must(g.island.registrar, 'register', { role: 'producer', account: bare.account.publicKey, meter: bare.meter.publicKey, capacityW: 1_000, label: 'No price' })
    g.island.pay(g.island.residents[1]!.publicKey, bare.account.publicKey, 'retail-seller', 100, 'pay_noprice')
    const gatewayNode = await startWith(g)
    const producerNode = await startWith(g)
    await cluster.link(producerNode, gatewayNode)
    await cluster.gossipReady()
    const gateway = gatewayOn(gatewayNode, g)
    const service = settle(producerNode, [g.producer.account, bare.account], g.clock)
    const onlooker = settle(gatewayNode, [], g.clock)

    const balanceBefore = balance(producerNode, g.producer.account)
    expect(balanceBefore).toBe(25_000)
    const lengthBefore = length(producerNode, g.producer.account)
    await gateway.simulate({ payer: g.island.utility.publicKey, payee: g.producer.account.publicKey, contract: 'wholesale-seller', amountMinor: 300, paymentId: 'pay_big' })
    const wh = whForPayment(300, WHOLESALE_PRICE)
    expect(wh).toBe(37_500)
    await waitFor(() => service.unsettled().some(u => u.paymentId === 'pay_big' && u.reason === 'insufficient-funds'))
    g.clock.advance(60_000)
    const report = service.unsettled()
    expect(report).toEqual([
      expect.objectContaining({ paymentId: 'pay_noprice', price: null, wh: null, settleable: false, reason: 'no-price', mine: true, payee: accountId(bare.account.publicKey) }),
      expect.objectContaining({
        paymentId: 'pay_big', contract: 'wholesale-seller', amount: 300, currency: 'USD', price: WHOLESALE_PRICE, wh, settleable: false, reason: 'insufficient-funds', mine: true,
        payer: accountId(g.island.utility.publicKey), payee: accountId(g.producer.account.publicKey), oracle: accountId(g.island.oracle.publicKey), ageMs: 60_000
      })
    ])
    // Everyone sees the same list (the onlooker holds no seller key).
    expect(onlooker.unsettled().map(u => [u.paymentId, u.reason, u.mine])).toEqual([['pay_noprice', 'no-price', false], ['pay_big', 'insufficient-funds', false]])

    // Unrelated ops arrive: nothing is signed while the energy is short.
    await gateway.simulate({ payer: g.island.residents[0]!.publicKey, payee: g.island.utility.publicKey, contract: 'retail-seller', amountMinor: 10, paymentId: 'pay_other' })
    await sleep(300)
    expect(length(producerNode, g.producer.account)).toBe(lengthBefore)
    expect(length(producerNode, bare.account)).toBe(0)

    // The meter mints 15 kWh more (on the island, published to the gateway node): the sale follows by itself.
    const from = g.island.ops.length
    for (let i = 0; i < 3; i++) g.island.mint(g.producer, 5_000)
    for (const op of g.island.ops.slice(from)) expect((await gatewayNode.submit(op)).status).toBe('applied')
    await waitFor(() => settled(gatewayNode, 'pay_big'), { describe: () => JSON.stringify(service.unsettled()) })
    expect(length(producerNode, g.producer.account)).toBe(lengthBefore + 1)
    expect(balance(gatewayNode, g.producer.account)).toBe(40_000 - wh)
    // Left: the no-price receipt, and the utility's sale (no node settles for the utility here).
    expect(service.unsettled().map(u => u.paymentId).sort()).toEqual(['pay_noprice', 'pay_other'])
    expect(length(producerNode, bare.account)).toBe(0)
    await cluster.converge([gatewayNode, producerNode])
  })
})

function settleSvcUnsettled (node: MicrogridNode, g: Grid): ReturnType<SettlementService['unsettled']> {
  const s = settlementService({ node, sellers: [], clock: g.clock })
  stops.push(s)
  return s.unsettled()
}
