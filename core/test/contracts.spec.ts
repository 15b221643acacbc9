import { describe, expect, it } from 'vitest'
import { decodeOp, signOp, type BodyOf, type OpKind, type OpSigner, type UnsignedOp, type UnsignedOpOf } from '@microgrid/protocol'
import { draftOp, type AddResult } from '@microgrid/core'
import { Island, RETAIL_PRICE, WHOLESALE_PRICE } from '@microgrid/core/testing'

/** A small island: 2 producers, 2 households, 1 street light, 3 residents. */
function island (): Island {
  return new Island({ seed: 'contracts', producers: 2, households: 2, streetLights: 1, residents: 3 })
}

/** Signs and applies an op after letting the test change the draft. */
function emitWith<K extends OpKind> (isl: Island, signer: OpSigner, kind: K, body: BodyOf[K], change: (op: UnsignedOpOf<K>) => void): AddResult {
  isl.clock.advance(1_000)
  const draft = draftOp(isl.state, signer.publicKey, kind, body, isl.clock)
  change(draft)
  const { bytes } = signOp(draft as UnsignedOp, signer)
  return isl.state.add(decodeOp(bytes))
}

function expectRejected (result: AddResult, code: string): void {
  expect(result.status).toBe('rejected')
  if (result.status === 'rejected') expect(result.code).toBe(code)
}

function expectApplied (result: AddResult): void {
  expect(result.status === 'rejected' ? `${result.code}: ${result.reason}` : result.status).toBe('applied')
}

/** Utility holding `wh` bought wholesale from producer 0. */
function utilityWith (isl: Island, kwh: number): void {
  const p = isl.producers[0]!
  for (let i = 0; i < kwh; i++) isl.mint(p)
  expectApplied(isl.sellWholesale(p, kwh * WHOLESALE_PRICE / 1_000))
}

describe('contract generator (mint)', () => {
  it('credits the producer of a registered meter', () => {
    const isl = island()
    const p = isl.producers[0]!
    isl.mint(p, 1_000)
    isl.mint(p, 1_000)
    expect(isl.state.balance(p.account.publicKey)).toBe(2_000)
    expect(isl.state.minted).toBe(2_000)
    expect(isl.state.chain(p.meter.publicKey).reading).toBe(2_000)
  })

  it('refuses a key that is not a registered generation meter', () => {
    const isl = island()
    expectRejected(isl.emit(isl.signer('stranger'), 'mint', { wh: 10, total: 10 }), 'not-meter')
    expectRejected(isl.emit(isl.producers[0]!.account, 'mint', { wh: 10, total: 10 }), 'not-meter')
    expectRejected(isl.emit(isl.devices[0]!.meter, 'mint', { wh: 10, total: 10 }), 'not-meter')
  })

  it('refuses a meter whose registration is outside its deps', () => {
    const isl = island()
    isl.clock.advance(3_600_000)
    expectRejected(emitWith(isl, isl.producers[0]!.meter, 'mint', { wh: 10, total: 10 }, op => { op.deps = [] }), 'not-meter')
  })

  it('refuses a reading that does not add up', () => {
    const isl = island()
    const p = isl.producers[0]!
    isl.mint(p, 1_000)
    isl.clock.advance(3_600_000)
    expectRejected(isl.emit(p.meter, 'mint', { wh: 500, total: 1_400 }), 'reading-mismatch')
    expect(isl.state.balance(p.account.publicKey)).toBe(1_000)
  })

  it('refuses more energy than the capacity can produce since registration in the time the grid witnessed', () => {
    const isl = island()
    const p = isl.producers[0]! // 5 kW
    isl.mint(p, 1_000) // 1 kWh, 12 minutes after the registration
    isl.clock.advance(30 * 60_000) // 42 minutes in all: at most 3.5 kWh
    isl.beacon()
    expectRejected(isl.emit(p.meter, 'mint', { wh: 3_000, total: 4_000 }), 'implausible-mint')
    expectApplied(isl.emit(p.meter, 'mint', { wh: 2_000, total: 3_000 }))
  })

  it('refuses a ts earlier than the previous op of the chain', () => {
    const isl = island()
    const p = isl.producers[0]!
    isl.mint(p, 1_000)
    const last = isl.state.chain(p.meter.publicKey).lastTs
    isl.clock.advance(10 * 3_600_000)
    expectRejected(emitWith(isl, p.meter, 'mint', { wh: 10, total: 1_010 }, op => { op.ts = last - 1 }), 'ts-backwards')
  })
})

describe('contract wholesale-seller', () => {
  it('moves ⌊fiat × 1,000,000 ÷ wholesale price⌋ Wh from the producer to the utility', () => {
    const isl = island()
    const p = isl.producers[0]!
    for (let i = 0; i < 10; i++) isl.mint(p)
    expectApplied(isl.sellWholesale(p, 80)) // $0.80 at 8,000 ¢/MWh = 10,000 Wh
    expect(isl.state.balance(isl.utility.publicKey)).toBe(10_000)
    expect(isl.state.balance(p.account.publicKey)).toBe(0)
    expect(isl.state.isSettled('pi_contracts_1')).toBe(true)
  })

  it('rounds down', () => {
    const isl = island()
    const p = isl.producers[0]!
    for (let i = 0; i < 2; i++) isl.mint(p)
    const receipt = isl.pay(isl.utility.publicKey, p.account.publicKey, 'wholesale-seller', 7) // 7 × 1e6 / 8000 = 875
    expectRejected(isl.emit(p.account, 'transfer', { contract: 'wholesale-seller', to: isl.utility.publicKey, wh: 876, receipt, window: null }), 'wrong-amount')
    expectApplied(isl.emit(p.account, 'transfer', { contract: 'wholesale-seller', to: isl.utility.publicKey, wh: 875, receipt, window: null }))
  })

  it('settles a payment once', () => {
    const isl = island()
    const p = isl.producers[0]!
    for (let i = 0; i < 4; i++) isl.mint(p)
    const receipt = isl.pay(isl.utility.publicKey, p.account.publicKey, 'wholesale-seller', 8)
    const body = { contract: 'wholesale-seller', to: isl.utility.publicKey, wh: 1_000, receipt, window: null } as const
    expectApplied(isl.emit(p.account, 'transfer', body))
    expectRejected(isl.emit(p.account, 'transfer', body), 'already-settled')
    expect(isl.state.balance(isl.utility.publicKey)).toBe(1_000)
  })

  it('refuses sales that break the receipt', () => {
    const isl = island()
    const [p, q] = [isl.producers[0]!, isl.producers[1]!]
    for (let i = 0; i < 4; i++) { isl.mint(p); isl.mint(q) }
    const sale = (seller: OpSigner, receipt: readonly [Uint8Array, number], to = isl.utility.publicKey, wh = 1_000): AddResult =>
      isl.emit(seller, 'transfer', { contract: 'wholesale-seller', to, wh, receipt, window: null })
    const toP = isl.pay(isl.utility.publicKey, p.account.publicKey, 'wholesale-seller', 8)
    expectRejected(sale(q.account, toP), 'wrong-payee')
    const resident = isl.residents[0]!
    expectRejected(sale(p.account, toP, resident.publicKey), 'wrong-recipient')
    const retail = isl.pay(isl.utility.publicKey, p.account.publicKey, 'retail-seller', 8)
    expectRejected(sale(p.account, retail), 'wrong-contract')
    expectRejected(sale(p.account, [isl.registrar.publicKey, 1]), 'not-a-receipt')
    const fromResident = isl.pay(resident.publicKey, p.account.publicKey, 'wholesale-seller', 8)
    expectRejected(sale(p.account, fromResident, resident.publicKey), 'not-utility')
    const toResident = isl.pay(isl.utility.publicKey, resident.publicKey, 'wholesale-seller', 8)
    expectRejected(sale(resident, toResident), 'not-seller')
    expectApplied(sale(p.account, toP))
  })

  it('refuses a receipt outside the deps', () => {
    const isl = island()
    const p = isl.producers[0]!
    for (let i = 0; i < 2; i++) isl.mint(p)
    const receipt = isl.pay(isl.utility.publicKey, p.account.publicKey, 'wholesale-seller', 8)
    const oracle = isl.oracle.publicKey
    const result = emitWith(isl, p.account, 'transfer', { contract: 'wholesale-seller', to: isl.utility.publicKey, wh: 1_000, receipt, window: null },
      op => { op.deps = op.deps.filter(([k]) => Buffer.compare(k, oracle) !== 0) })
    expectRejected(result, 'receipt-not-in-deps')
  })

  it('refuses a sale beyond what the producer holds', () => {
    const isl = island()
    const p = isl.producers[0]!
    isl.mint(p)
    expectRejected(isl.sellWholesale(p, 16), 'insufficient-funds') // 2,000 Wh asked, 1,000 held
    expect(isl.state.balance(p.account.publicKey)).toBe(1_000)
  })

  it('refuses a sale without a price, or too small to buy a Wh', () => {
    const isl = island()
    const p = isl.producers[0]!
    for (let i = 0; i < 2; i++) isl.mint(p)
    isl.emit(p.account, 'price', { wholesale: 2_000_000, retail: null })
    const tiny = isl.pay(isl.utility.publicKey, p.account.publicKey, 'wholesale-seller', 1)
    expectRejected(isl.emit(p.account, 'transfer', { contract: 'wholesale-seller', to: isl.utility.publicKey, wh: 1, receipt: tiny, window: null }), 'payment-too-small')

    const fresh = island()
    const account = fresh.signer('late-producer')
    const meter = fresh.signer('late-producer/meter')
    fresh.must(fresh.registrar, 'register', { role: 'producer', account: account.publicKey, meter: meter.publicKey, capacityW: 10_000, label: 'No price yet' })
    fresh.mint({ account, meter, capacityW: 10_000 })
    const receipt = fresh.pay(fresh.utility.publicKey, account.publicKey, 'wholesale-seller', 8)
    expectRejected(fresh.emit(account, 'transfer', { contract: 'wholesale-seller', to: fresh.utility.publicKey, wh: 1_000, receipt, window: null }), 'no-price')
  })

})

describe('contract retail-seller', () => {
  it('moves fiat ÷ the utility\'s retail price from the utility to the resident who paid', () => {
    const isl = island()
    utilityWith(isl, 20)
    const r = isl.residents[0]!
    expectApplied(isl.sellRetail(r, 125)) // $1.25 at 12,500 ¢/MWh = 10 kWh
    expect(isl.state.balance(r.publicKey)).toBe(10_000)
    expect(isl.state.balance(isl.utility.publicKey)).toBe(10_000)
  })

  it('lets a producer sell to a neighbour at its own retail price', () => {
    const isl = island()
    const p = isl.producers[0]!
    for (let i = 0; i < 10; i++) isl.mint(p)
    const r = isl.residents[1]!
    expectApplied(isl.sellRetail(r, 60, p.account)) // producers' retail: 12,000 ¢/MWh -> 5,000 Wh
    expect(isl.state.balance(r.publicKey)).toBe(Math.floor(60 * 1_000_000 / (RETAIL_PRICE - 500)))
  })

  it('refuses a seller that is neither utility nor producer, and a wrong amount', () => {
    const isl = island()
    utilityWith(isl, 4)
    const [a, b] = [isl.residents[0]!, isl.residents[1]!]
    expectApplied(isl.sellRetail(a, 25))
    const receipt = isl.pay(b.publicKey, a.publicKey, 'retail-seller', 10)
    expectRejected(isl.emit(a, 'transfer', { contract: 'retail-seller', to: b.publicKey, wh: 800, receipt, window: null }), 'not-seller')
    const fair = isl.pay(b.publicKey, isl.utility.publicKey, 'retail-seller', 10)
    expectRejected(isl.emit(isl.utility, 'transfer', { contract: 'retail-seller', to: b.publicKey, wh: 801, receipt: fair, window: null }), 'wrong-amount')
  })
})

describe('contract resident', () => {
  function funded (): { isl: Island, r: OpSigner } {
    const isl = island()
    utilityWith(isl, 40)
    const r = isl.residents[0]!
    expectApplied(isl.sellRetail(r, 250)) // 20 kWh
    return { isl, r }
  }

  it('funds any consumer device, many residents to one device', () => {
    const { isl, r } = funded()
    const other = isl.residents[1]!
    expectApplied(isl.sellRetail(other, 125))
    const light = isl.devices[2]!
    expectApplied(isl.fund(r, light, 3_000))
    expectApplied(isl.fund(other, light, 2_000))
    expect(isl.state.balance(light.meter.publicKey)).toBe(5_000)
    expect(isl.state.balance(r.publicKey)).toBe(17_000)
  })

  it('refuses to fund anything but a registered consumer device', () => {
    const { isl, r } = funded()
    expectRejected(isl.emit(r, 'transfer', { contract: 'resident', to: isl.residents[1]!.publicKey, wh: 10, receipt: null, window: null }), 'not-device')
    expectRejected(isl.emit(r, 'transfer', { contract: 'resident', to: isl.utility.publicKey, wh: 10, receipt: null, window: null }), 'not-device')
  })

  it('refuses more than the resident holds, and paying itself', () => {
    const { isl, r } = funded()
    expectRejected(isl.fund(r, isl.devices[0]!, 20_001), 'insufficient-funds')
    expectRejected(isl.emit(r, 'transfer', { contract: 'resident', to: r.publicKey, wh: 10, receipt: null, window: null }), 'self-transfer')
    expect(isl.state.balance(r.publicKey)).toBe(20_000)
  })

  it('counts only credits the op\'s deps declare', () => {
    const { isl, r } = funded()
    const utility = isl.utility.publicKey
    const result = emitWith(isl, r, 'transfer', { contract: 'resident', to: isl.devices[0]!.meter.publicKey, wh: 1_000, receipt: null, window: null },
      op => { op.deps = op.deps.filter(([k]) => Buffer.compare(k, utility) !== 0) })
    expectRejected(result, 'insufficient-funds')
  })
})

describe('contract consumer (burn)', () => {
  function device (): { isl: Island, r: OpSigner } {
    const isl = island()
    utilityWith(isl, 40)
    const r = isl.residents[0]!
    expectApplied(isl.sellRetail(r, 250))
    return { isl, r }
  }

  it('burns from the device account and keeps supply = minted − burned', () => {
    const { isl, r } = device()
    const home = isl.devices[0]!
    expectApplied(isl.fund(r, home, 5_000))
    expectApplied(isl.burn(home, 1_000))
    expectApplied(isl.burn(home, 1_500))
    expect(isl.state.balance(home.meter.publicKey)).toBe(2_500)
    expect(isl.state.burned).toBe(2_500)
    const sum = isl.state.chains.reduce((s, c) => s + c.balance, 0)
    expect(sum).toBe(isl.state.minted - isl.state.burned)
  })

  it('refuses a burn beyond the funds, by anyone but the device\'s meter, or with a bad reading', () => {
    const { isl, r } = device()
    const home = isl.devices[0]!
    expectApplied(isl.fund(r, home, 1_000))
    expectRejected(isl.burn(home, 1_001), 'insufficient-funds')
    expectRejected(isl.emit(r, 'burn', { wh: 10, total: 10 }), 'not-device')
    expectRejected(isl.emit(isl.producers[0]!.meter, 'burn', { wh: 10, total: 10 }), 'not-device')
    expectApplied(isl.burn(home, 400))
    expectRejected(isl.emit(home.meter, 'burn', { wh: 100, total: 600 }), 'reading-mismatch')
  })

  it('never lets value leave a consumer account except by burning', () => {
    const { isl, r } = device()
    const home = isl.devices[0]!
    expectApplied(isl.fund(r, home, 5_000))
    expectRejected(isl.emit(home.meter, 'transfer', { contract: 'resident', to: isl.devices[1]!.meter.publicKey, wh: 1_000, receipt: null, window: null }), 'consumer-burn-only')
    const receipt = isl.pay(r.publicKey, home.meter.publicKey, 'retail-seller', 10)
    expectRejected(isl.emit(home.meter, 'transfer', { contract: 'retail-seller', to: r.publicKey, wh: 800, receipt, window: null }), 'consumer-burn-only')
    expect(isl.state.balance(home.meter.publicKey)).toBe(5_000)
  })

  it('draws open windows before the device\'s general funds', () => {
    const { isl, r } = device()
    const light = isl.devices[2]!
    expectApplied(isl.fund(r, light, 1_000))
    const from = isl.clock.now()
    expectApplied(isl.fund(r, light, 2_000, { from, until: from + 3_600_000 }))
    expectApplied(isl.burn(light, 1_500))
    expect(isl.state.windowsOf(light.meter.publicKey)[0]?.remaining).toBe(500)
    expect(isl.state.balance(light.meter.publicKey)).toBe(1_500)
  })
})

describe('receipts, registrations, prices and freezes', () => {
  it('accepts receipts only from a genesis oracle, in the grid currency, once per payment id', () => {
    const isl = island()
    const body = { payer: isl.residents[0]!.publicKey, payee: isl.utility.publicKey, contract: 'retail-seller', amount: 100, currency: 'USD', paymentId: 'pi_1' } as const
    expectRejected(isl.emit(isl.registrar, 'receipt', body), 'not-oracle')
    expectRejected(isl.emit(isl.oracle, 'receipt', { ...body, currency: 'EUR' }), 'wrong-currency')
    expectApplied(isl.emit(isl.oracle, 'receipt', body))
    expectRejected(isl.emit(isl.oracle, 'receipt', body), 'duplicate-payment')
  })

  it('registers only by a registrar, each key once', () => {
    const isl = island()
    const meter = isl.signer('new-meter')
    const body = { role: 'consumer', meter: meter.publicKey, label: 'Stadium', category: 'stadium', position: null } as const
    expectRejected(isl.emit(isl.utility, 'register', body), 'not-registrar')
    expectApplied(isl.emit(isl.registrar, 'register', body))
    expectRejected(isl.emit(isl.registrar, 'register', body), 'already-registered')
    expectRejected(isl.emit(isl.registrar, 'register', { role: 'utility', account: meter.publicKey, label: 'Again' }), 'already-registered')
    expect(isl.state.registrationOf(meter.publicKey)?.body).toMatchObject({ label: 'Stadium' })
  })

  it('lets only producers and utilities set prices', () => {
    const isl = island()
    expectRejected(isl.emit(isl.residents[0]!, 'price', { wholesale: 1, retail: 1 }), 'not-seller')
    expectApplied(isl.emit(isl.utility, 'price', { wholesale: null, retail: 13_000 }))
    expect(isl.state.chain(isl.utility.publicKey).retail).toBe(13_000)
  })

  it('lets only a registrar lift a freeze', () => {
    const isl = island()
    expectRejected(isl.emit(isl.utility, 'unfreeze', { account: isl.residents[0]!.publicKey, seq: 0 }), 'not-registrar')
    expectApplied(isl.emit(isl.registrar, 'unfreeze', { account: isl.residents[0]!.publicKey, seq: 0 }))
  })

  it('takes time beacons only from a registrar or an oracle of the genesis', () => {
    const isl = island()
    expectRejected(isl.emit(isl.utility, 'beacon', {}), 'not-authority')
    expectRejected(isl.emit(isl.producers[0]!.meter, 'beacon', {}), 'not-authority')
    expectApplied(isl.emit(isl.registrar, 'beacon', {}))
    expectApplied(isl.emit(isl.oracle, 'beacon', {}))
  })
})
