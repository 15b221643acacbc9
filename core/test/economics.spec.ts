/**
 * Sound economics: nobody gets value the rules do not give, whatever the ops cite and whatever order
 * they arrive in. Items 4–8 of the ledger's audit, each a named test, and the funding query that meter
 * agents and the UI share.
 */
import { describe, expect, it } from 'vitest'
import { decodeOp, signOp, toHex, type BodyOf, type OpKind, type OpSigner, type UnsignedOp, type UnsignedOpOf } from '@microgrid/protocol'
import { draftOp, fundsOf, Ledger, stateHash, type AddResult } from '@microgrid/core'
import { Island, RETAIL_PRICE, WHOLESALE_PRICE } from '@microgrid/core/testing'

function expectRejected (result: AddResult, code: string): void {
  expect(result.status === 'rejected' ? result.code : result.status).toBe(code)
}

function expectApplied (result: AddResult): void {
  expect(result.status === 'rejected' ? `${result.code}: ${result.reason}` : result.status).toBe('applied')
}

/** Signs the next op of `signer` after the test changed the draft, applies it to the island's replica and records it. */
function emitWith<K extends OpKind> (isl: Island, signer: OpSigner, kind: K, body: BodyOf[K], change: (op: UnsignedOpOf<K>) => void): AddResult & { bytes: Uint8Array } {
  isl.clock.advance(1_000)
  const draft = draftOp(isl.state, signer.publicKey, kind, body, isl.clock)
  change(draft)
  const { bytes } = signOp(draft as UnsignedOp, signer)
  isl.ops.push(bytes)
  return { ...isl.state.add(decodeOp(bytes)), bytes }
}

/** A replica that got the island's ops in `order`, in batches of `size`. */
async function replica (isl: Island, order: Uint8Array[], size = 7): Promise<Ledger> {
  const ledger = await Ledger.open({ genesis: isl.genesis })
  for (let i = 0; i < order.length; i += size) {
    for (const r of await ledger.applyBatch(order.slice(i, i + size))) expect(r.status).not.toBe('invalid')
  }
  return ledger
}

describe('the ledger\'s economics', () => {
  it('4. a payment id settles once per grid, whichever oracle attests it', async () => {
    const isl = new Island({ seed: 'two-oracles', producers: 1, residents: 1, oracles: 2 })
    const p = isl.producers[0]!
    const [first, second] = isl.oracles as [OpSigner, OpSigner]
    for (let i = 0; i < 30; i++) isl.mint(p)
    // Both gateway nodes saw the same webhook: two receipts of one payment, neither citing the other.
    const a = isl.pay(isl.utility.publicKey, p.account.publicKey, 'wholesale-seller', 80, 'pi_twice', first)
    const b = isl.pay(isl.utility.publicKey, p.account.publicKey, 'wholesale-seller', 80, 'pi_twice', second)
    const sale = (receipt: readonly [Uint8Array, number]): AddResult => isl.emit(p.account, 'transfer', { contract: 'wholesale-seller', to: isl.utility.publicKey, wh: 10_000, receipt, window: null })
    expectApplied(sale(a))
    const again = sale(b)
    expectRejected(again, 'already-settled')
    expect(isl.state.balance(isl.utility.publicKey)).toBe(10_000)
    // An oracle that already sees a receipt of the payment refuses to attest it again.
    expectRejected(emitWith(isl, first, 'receipt', { payer: isl.utility.publicKey, payee: p.account.publicKey, contract: 'wholesale-seller', amount: 80, currency: 'USD', paymentId: 'pi_twice' }, op => {
      op.deps = [...op.deps, [second.publicKey, isl.state.chain(second.publicKey).length - 1] as const].sort((x, y) => toHex(x[0]) < toHex(y[0]) ? -1 : 1)
    }), 'duplicate-payment')
    const reversed = await replica(isl, [...isl.ops].reverse())
    expect(reversed.stateHash()).toBe(stateHash(isl.state))
    expect(reversed.state.balance(isl.utility.publicKey)).toBe(10_000)
    expect(reversed.state.isSettled('pi_twice')).toBe(true)
  })

  it('5. a generation meter mints only for time the grid\'s authorities witnessed, cumulatively since registration', () => {
    const isl = new Island({ seed: 'beacons', producers: 1 })
    const p = isl.producers[0]! // 5 kW
    const meter = isl.state.chain(p.meter.publicKey)
    // Dating a mint a thousand years ahead buys nothing: the latest beacon it cites bounds the time.
    expectRejected(emitWith(isl, p.meter, 'mint', { wh: 1e12, total: 1e12 }, op => { op.ts = isl.clock.now() + 1000 * 365 * 86_400_000 }), 'implausible-mint')
    expect(isl.state.minted).toBe(0)
    // A day offline: 120 kWh metered. Without a fresh beacon in its deps the mint is implausible...
    isl.clock.advance(24 * 3_600_000)
    expectRejected(isl.emit(p.meter, 'mint', { wh: 120_000, total: 120_000 }), 'implausible-mint')
    // ...once the registrar's node publishes a beacon and the meter cites it, the day's energy mints at once.
    isl.beacon()
    expectApplied(isl.emit(p.meter, 'mint', { wh: 119_000, total: 119_000 }))
    expect(meter.minted).toBe(119_000)
    // The bound is cumulative: what is left of the day's capacity (and the slack), not a fresh window per mint.
    expectRejected(isl.emit(p.meter, 'mint', { wh: 3_000, total: 122_000 }), 'implausible-mint')
    expectApplied(isl.emit(p.meter, 'mint', { wh: 1_000, total: 120_000 }))
    expect(isl.state.balance(p.account.publicKey)).toBe(120_000)
  })

  it('6. the price of a sale is the seller\'s price in the receipt\'s past: repricing after the payment changes nothing', () => {
    const isl = new Island({ seed: 'reprice', producers: 1 })
    const p = isl.producers[0]!
    for (let i = 0; i < 20; i++) isl.mint(p)
    const receipt = isl.pay(isl.utility.publicKey, p.account.publicKey, 'wholesale-seller', 60) // 60¢ at 8,000 ¢/MWh
    expect(isl.state.receiptAt(receipt[0], receipt[1])?.price).toBe(WHOLESALE_PRICE)
    isl.emit(p.account, 'price', { wholesale: 6_000_000, retail: null }) // after being paid: 1 Wh for 600¢
    expectRejected(isl.emit(p.account, 'transfer', { contract: 'wholesale-seller', to: isl.utility.publicKey, wh: 0 + 1, receipt, window: null }), 'wrong-amount')
    expectApplied(isl.emit(p.account, 'transfer', { contract: 'wholesale-seller', to: isl.utility.publicKey, wh: 7_500, receipt, window: null }))
    expect(isl.state.balance(isl.utility.publicKey)).toBe(7_500)
    // A receipt whose past holds no price of its payee can never settle, and the rejection says so.
    const fresh = isl.signer('unpriced')
    isl.must(isl.registrar, 'register', { role: 'producer', account: fresh.publicKey, meter: isl.signer('unpriced/meter').publicKey, capacityW: 5_000, label: 'No price' })
    const unpriced = isl.pay(isl.utility.publicKey, fresh.publicKey, 'wholesale-seller', 60)
    expect(isl.state.receiptAt(unpriced[0], unpriced[1])?.price).toBeNull()
    isl.emit(fresh, 'price', { wholesale: WHOLESALE_PRICE, retail: null })
    const r = isl.emit(fresh, 'transfer', { contract: 'wholesale-seller', to: isl.utility.publicKey, wh: 7_500, receipt: unpriced, window: null })
    expectRejected(r, 'no-price')
    expect(r.status === 'rejected' && r.reason).toMatch(/never settle/)
  })

  it('7. value credited to a device never leaves it except by burning, whatever deps it cites and whenever its registration arrives', async () => {
    const isl = new Island({ seed: 'leak', producers: 1, households: 1 })
    const other = isl.devices[0]!
    const p = isl.producers[0]!
    for (let i = 0; i < 10; i++) isl.mint(p)
    isl.sellWholesale(p, 80) // the utility holds 10 kWh
    const device = isl.addDevice('household')
    // Everything below cites the registrar as it was before the device's registration (its last op).
    const before = isl.state.chain(isl.registrar.publicKey).length - 2
    const pin = (op: UnsignedOpOf<OpKind>): void => {
      op.deps = op.deps.map(([k, s]) => toHex(k) === toHex(isl.registrar.publicKey) ? [k, Math.min(s, before)] as const : [k, s] as const)
    }
    const receiptSeq = isl.state.chain(isl.oracle.publicKey).length
    expectApplied(emitWith(isl, isl.oracle, 'receipt', { payer: device.meter.publicKey, payee: isl.utility.publicKey, contract: 'retail-seller', amount: 25, currency: 'USD', paymentId: 'pi_device' }, pin))
    // The seller's view predates the device's registration: to it, the buyer is an ordinary account.
    expectApplied(emitWith(isl, isl.utility, 'transfer', { contract: 'retail-seller', to: device.meter.publicKey, wh: 2_000, receipt: [isl.oracle.publicKey, receiptSeq], window: null }, pin))
    // The device's meter key sends the units to another device, citing a registrar head from before its own registration.
    const leak = emitWith(isl, device.meter, 'transfer', { contract: 'resident', to: other.meter.publicKey, wh: 1_000, receipt: null, window: null }, pin)
    expectRejected(leak, 'consumer-burn-only')
    expect(isl.state.balance(other.meter.publicKey)).toBe(0)
    expect(isl.state.balance(device.meter.publicKey)).toBe(2_000)
    // A replica that gets the leak before the device's registration decides it again when the registration arrives.
    const registration = isl.ops.find(b => { const d = decodeOp(b); return d.op.kind === 'register' && d.op.body.role === 'consumer' && toHex(d.op.body.meter) === toHex(device.meter.publicKey) }) as Uint8Array
    const late = await replica(isl, [...isl.ops.filter(b => b !== registration), registration], 1)
    expect(late.stateHash()).toBe(stateHash(isl.state))
    expect(late.state.balance(other.meter.publicKey)).toBe(0)
    expect(late.state.statusOf(device.meter.publicKey, 0, decodeOp(leak.bytes).id)).toBe('rejected')
    expect(late.rewinds).toBeGreaterThan(0)
  })

  it('8. a funding window burns the funder\'s units inside it, and what is left returns to the funder once the meter passes its end', async () => {
    const isl = new Island({ seed: 'windows', producers: 1, streetLights: 1, residents: 2 })
    const p = isl.producers[0]!
    for (let i = 0; i < 20; i++) isl.mint(p)
    isl.sellWholesale(p, 20 * WHOLESALE_PRICE / 1_000)
    const [market, charity] = isl.residents as [OpSigner, OpSigner]
    isl.sellRetail(market, 6 * RETAIL_PRICE / 1_000) // 6 kWh
    isl.sellRetail(charity, 2 * RETAIL_PRICE / 1_000) // 2 kWh
    const light = isl.devices[0]!
    const from = isl.clock.now() + 3_600_000
    const until = from + 5 * 3_600_000 // the night market, 18:00–23:00
    expectApplied(isl.fund(market, light, 3_000, { from, until }))
    // Before the meter cites it, the window shows as an upcoming window of the market's, not as general funds.
    let view = fundsOf(isl.state, light.meter.publicKey, isl.clock.now())
    expect(view.general).toBe(0)
    expect(view.windows).toMatchObject([{ funder: market.publicKey, remaining: 3_000, state: 'upcoming', declared: false }])
    expect(view.usableNow).toBe(0)
    expectRejected(isl.burn(light, 100), 'insufficient-funds') // before the window opens
    isl.clock.set(from + 60_000)
    expectApplied(isl.burn(light, 1_000)) // inside
    view = fundsOf(isl.state, light.meter.publicKey, isl.clock.now())
    expect(view.usableNow).toBe(2_000)
    expect(view.windows).toMatchObject([{ remaining: 2_000, state: 'open', declared: true }])
    // The charity's unwindowed funding: burn-only, for good.
    expectApplied(isl.fund(charity, light, 1_500))
    isl.clock.set(until + 60_000)
    // After the window the light does not stay lit on the market's money.
    expect(fundsOf(isl.state, light.meter.publicKey, isl.clock.now()).windows).toMatchObject([{ state: 'ended', remaining: 2_000 }])
    const marketBefore = isl.state.balance(market.publicKey)
    expectRejected(isl.burn(light, 1_600), 'insufficient-funds') // 1,500 Wh of the charity's are all it may burn now
    // That op was dated past the window's end: the 2,000 Wh left went back to the market.
    expect(isl.state.balance(market.publicKey)).toBe(marketBefore + 2_000)
    expectApplied(isl.burn(light, 1_500))
    view = fundsOf(isl.state, light.meter.publicKey, isl.clock.now())
    expect(view.windows).toEqual([])
    expect(view.usableNow).toBe(0)
    const byFunder = new Map(view.funders.map(f => [toHex(f.funder), f]))
    expect(byFunder.get(toHex(market.publicKey))).toMatchObject({ put: 3_000, burned: 1_000, returned: 2_000, held: 0 })
    expect(byFunder.get(toHex(charity.publicKey))).toMatchObject({ put: 1_500, burned: 1_500, returned: 0, held: 0 })
    // The market spends its refund once it cites the light's chain: 3,000 Wh of its own and 1,500 of the refund.
    expectApplied(isl.fund(market, light, 4_500))
    expect(isl.state.spendable(market.publicKey)).toBe(500)
    // Every replica agrees, whatever the order.
    const reversed = await replica(isl, [...isl.ops].reverse())
    expect(reversed.stateHash()).toBe(stateHash(isl.state))
  })
})
