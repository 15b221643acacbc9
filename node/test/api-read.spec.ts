/** The API's read endpoints return what the ledger holds. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deviceUri, gridIdText, toHex } from '@microgrid/protocol'
import { fundsOf } from '@microgrid/core'
import { json, signAt, startFixture, TOKEN, type Fixture } from './api-fixture.ts'

let f: Fixture
beforeAll(async () => { f = await startFixture() })
afterAll(async () => { await f?.stop() })

describe('GET /status', () => {
  it('names the node, its grid, op counts and the state hash', async () => {
    const res = await f.get('/api/v1/status')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/application\/json/)
    const s = await json(res)
    expect(s.peerId).toBe(f.node.peerId)
    expect(s.grid).toEqual({ id: gridIdText(f.isl.state.gridId), name: 'Island api', currency: { code: 'USD', digits: 2 } })
    expect(s.ops).toEqual({ decided: f.isl.ops.length, pending: 0 })
    expect(s.stateHash).toBe(f.node.stateHash())
    expect(s.supply).toEqual({ mintedWh: 20_000, burnedWh: 300 })
    expect(s.forks).toBe(0)
    expect(s.frozen).toBe(0)
    expect(s.peers).toEqual([])
    expect(s.sync).toEqual({ missing: 0, lastPull: null, target: null })
    expect(s.signers.map((x: { name: string }) => x.name).sort()).toEqual(['oracle', 'producer', 'registrar', 'resident', 'utility'])
    expect(s.signers.find((x: { name: string }) => x.name === 'utility').roles).toEqual(['utility'])
  })
})

describe('GET /accounts', () => {
  it('lists every account with its role, label, balance and spendable', async () => {
    const { accounts } = await json(await f.get('/api/v1/accounts'))
    const state = f.isl.state
    const byId = new Map(accounts.map((a: { id: string }) => [a.id, a]))
    const utility = byId.get(f.id(f.isl.utility)) as Record<string, unknown>
    expect(utility).toMatchObject({ role: 'utility', label: 'Island Power & Light', balanceWh: state.balance(f.isl.utility.publicKey), spendableWh: state.spendable(f.isl.utility.publicKey), frozen: false })
    expect(byId.get(f.id(f.isl.residents[0]!))).toMatchObject({ role: 'resident', label: null, balanceWh: 3_000 })
    expect(byId.get(f.id(f.isl.devices[0]!.meter))).toMatchObject({ role: 'consumer', label: 'household 0', balanceWh: 700 })
    expect(byId.get(f.id(f.isl.registrar))).toMatchObject({ role: 'registrar' })
    expect(byId.get(f.id(f.isl.oracle))).toMatchObject({ role: 'oracle' })
    expect(byId.get(f.id(f.isl.producers[0]!.meter))).toMatchObject({ role: 'generation-meter', label: 'Rooftop 0' })
    // every balance of the ledger is listed, and they add up to the supply
    const total = accounts.reduce((s: number, a: { balanceWh: number }) => s + a.balanceWh, 0)
    expect(total).toBe(state.minted - state.burned)
    const { accounts: utilities } = await json(await f.get('/api/v1/accounts?role=utility'))
    expect(utilities.map((a: { id: string }) => a.id)).toEqual([f.id(f.isl.utility)])
  })

  it('GET /accounts/{id}: registration, prices and meter figures', async () => {
    const p = f.isl.producers[0]!
    const a = await json(await f.get(`/api/v1/accounts/${f.id(p.account)}`))
    expect(a).toMatchObject({
      id: f.id(p.account), role: 'producer', frozenFrom: null,
      registration: { role: 'producer', label: 'Rooftop 0', capacityW: p.capacityW, meter: f.id(p.meter), registrar: f.id(f.isl.registrar) },
      prices: { wholesale: { minorPerMWh: 8_000, dollarsPerKWh: 0.08 }, retail: { minorPerMWh: 12_000, dollarsPerKWh: 0.12 } },
      meter: null
    })
    const d = await json(await f.get(`/api/v1/accounts/${f.id(f.isl.devices[0]!.meter)}`))
    expect(d.registration).toMatchObject({ role: 'consumer', category: 'household', position: { lat: 18.2, lon: -66.5 } })
    expect(d.meter).toEqual({ readingWh: 300, mintedWh: 0, burnedWh: 300 })
  })

  it('refuses an id that is not one (400) and an unknown one (404)', async () => {
    const bad = await f.get('/api/v1/accounts/mg1nope')
    expect(bad.status).toBe(400)
    const e = await json(bad)
    expect(e.error.code).toBe('bad-request')
    expect(e.error.message).toMatch(/^path\.id: /)
    const unknown = await f.get(`/api/v1/accounts/${f.id(f.isl.signer('nobody'))}`)
    expect(unknown.status).toBe(404)
    expect((await json(unknown)).error.code).toBe('unknown-account')
  })
})

describe('GET /accounts/{id}/history', () => {
  it('lists the ops that touch the account, newest first, with what each did to its balance', async () => {
    const r0 = f.isl.residents[0]!
    const h = await json(await f.get(`/api/v1/accounts/${f.id(r0)}/history`))
    expect(h.account).toBe(f.id(r0))
    // the receipt naming it as payer, the utility's sale to it, its funding of household 0
    expect(h.entries.map((e: { kind: string }) => e.kind)).toEqual(['transfer', 'transfer', 'receipt'])
    const [fund, sale, receipt] = h.entries
    expect(fund).toMatchObject({ author: f.id(r0), seq: 0, status: 'accepted', deltaWh: -1_000, body: { contract: 'resident', to: f.id(f.isl.devices[0]!.meter), wh: 1_000, window: null } })
    expect(sale).toMatchObject({ author: f.id(f.isl.utility), status: 'accepted', deltaWh: 4_000, body: { contract: 'retail-seller', to: f.id(r0) } })
    expect(receipt).toMatchObject({ author: f.id(f.isl.oracle), deltaWh: 0, body: { payer: f.id(r0), amount: 50, paymentId: expect.any(String) } })
    expect(h.entries.every((e: { ts: number }, i: number, all: Array<{ ts: number }>) => i === 0 || all[i - 1]!.ts >= e.ts)).toBe(true)
    expect(h.next).toBeNull()
    const sum = h.entries.reduce((s: number, e: { deltaWh: number }) => s + e.deltaWh, 0)
    expect(sum).toBe(f.isl.state.balance(r0.publicKey))
  })

  it('pages with before/limit and ends with next = null', async () => {
    const producer = f.isl.producers[0]!.account
    const all = await json(await f.get(`/api/v1/accounts/${f.id(producer)}/history?limit=500`))
    expect(all.entries.length).toBeGreaterThan(5)
    const seen: string[] = []
    let before: string | null = null
    for (let pages = 0; pages < 20; pages++) {
      const page: { entries: Array<{ cursor: string }>, next: string | null } = await json(await f.get(`/api/v1/accounts/${f.id(producer)}/history?limit=2${before === null ? '' : `&before=${before}`}`))
      seen.push(...page.entries.map(e => e.cursor))
      if (page.next === null) break
      before = page.next
    }
    expect(seen).toEqual(all.entries.map((e: { cursor: string }) => e.cursor))
    // mints credited it, the wholesale sale debited it
    const delta = all.entries.reduce((s: number, e: { deltaWh: number }) => s + e.deltaWh, 0)
    expect(delta).toBe(f.isl.state.balance(producer.publicKey))
    // a time as `before`: strictly older entries
    const t = all.entries[2].ts
    const older = await json(await f.get(`/api/v1/accounts/${f.id(producer)}/history?before=${t}`))
    expect(older.entries.every((e: { ts: number }) => e.ts < t)).toBe(true)
    expect(older.entries.length).toBe(all.entries.filter((e: { ts: number }) => e.ts < t).length)
  })

  it('adds up to every account\'s balance, and reaches the registrar\'s genesis', async () => {
    const { accounts } = await json(await f.get('/api/v1/accounts'))
    for (const a of accounts as Array<{ id: string, balanceWh: number }>) {
      const h = await json(await f.get(`/api/v1/accounts/${a.id}/history?limit=500`))
      expect(h.next, a.id).toBeNull()
      expect(h.entries.reduce((s: number, e: { deltaWh: number }) => s + e.deltaWh, 0), a.id).toBe(a.balanceWh)
    }
    const reg = await json(await f.get(`/api/v1/accounts/${f.id(f.isl.registrar)}/history?limit=500`))
    expect(reg.entries.at(-1)).toMatchObject({ kind: 'genesis', seq: 0, id: toHex(f.isl.state.gridId), body: { name: 'Island api', currency: 'USD' } })
  })

  it('gives an account the ledger has not seen yet an empty history, and refuses an id that is not one (400)', async () => {
    const stranger = f.id(f.isl.signer('nobody-yet'))
    const res = await f.get(`/api/v1/accounts/${stranger}/history`)
    expect(res.status).toBe(200)
    expect(await json(res)).toEqual({ account: stranger, entries: [], next: null })
    const bad = await f.get('/api/v1/accounts/mg1nothing/history')
    expect(bad.status).toBe(400)
    expect((await json(bad)).error.message).toMatch(/path\.id/)
  })

  it('refuses a bad cursor and a bad limit with 400', async () => {
    const id = f.id(f.isl.utility)
    for (const q of ['before=xyz', 'limit=0', 'limit=501', 'limit=abc']) {
      const res = await f.get(`/api/v1/accounts/${id}/history?${q}`)
      expect(res.status, q).toBe(400)
      expect((await json(res)).error.message, q).toMatch(/query\.(before|limit)/)
    }
  })
})

describe('GET /devices', () => {
  it('lists registered devices with map position, QR payload and funds', async () => {
    const { devices } = await json(await f.get('/api/v1/devices'))
    expect(devices).toHaveLength(3)
    const d0 = f.isl.devices[0]!
    const d = devices.find((x: { id: string }) => x.id === f.id(d0.meter))
    const funds = fundsOf(f.node.ledger.state, d0.meter.publicKey, f.isl.clock.now())
    expect(d).toMatchObject({
      label: 'household 0', category: 'household', position: { lat: 18.2, lon: -66.5 },
      qr: deviceUri({ account: d0.meter.publicKey, grid: f.isl.state.gridId }),
      frozen: false, meter: null,
      funds: { usableNowWh: funds.usableNow, generalWh: 700, burnedWh: 300, balanceWh: 700, windows: [], funders: [{ funder: f.id(f.isl.residents[0]!), putWh: 1_000, burnedWh: 300, returnedWh: 0, heldWh: 700 }] }
    })
    const { devices: lights } = await json(await f.get('/api/v1/devices?category=street-light'))
    expect(lights.map((x: { label: string }) => x.label)).toEqual(['street-light 2'])
    const one = await json(await f.get(`/api/v1/devices/${f.id(d0.meter)}`))
    expect(one).toEqual(d)
    const notDevice = await f.get(`/api/v1/devices/${f.id(f.isl.utility)}`)
    expect(notDevice.status).toBe(404)
    expect((await json(notDevice)).error.code).toBe('unknown-device')
  })

  it('shows the meter agent\'s last report', async () => {
    const d1 = f.isl.devices[1]!
    const report = { at: f.isl.clock.now(), relay: true, reason: 'funded', usableWh: 0, daysRemaining: 2.5, watts: 40, warnings: [1_000], faults: [], queuedWh: 0 }
    f.node.meterReports.set(toHex(d1.meter.publicKey), { report, peer: '12D3KooWfake' })
    try {
      const d = await json(await f.get(`/api/v1/devices/${f.id(d1.meter)}`))
      expect(d.meter).toEqual({ ...report, peer: '12D3KooWfake' })
    } finally {
      f.node.meterReports.delete(toHex(d1.meter.publicKey))
    }
  })
})

describe('GET /prices, /receipts', () => {
  it('lists every producer\'s and utility\'s prices', async () => {
    const p = await json(await f.get('/api/v1/prices'))
    expect(p.currency).toEqual({ code: 'USD', digits: 2 })
    expect(p.sellers).toEqual([
      { account: f.id(f.isl.utility), role: 'utility', label: 'Island Power & Light', wholesale: null, retail: { minorPerMWh: 12_500, dollarsPerKWh: 0.125 } },
      { account: f.id(f.isl.producers[0]!.account), role: 'producer', label: 'Rooftop 0', wholesale: { minorPerMWh: 8_000, dollarsPerKWh: 0.08 }, retail: { minorPerMWh: 12_000, dollarsPerKWh: 0.12 } }
    ])
  })

  it('lists receipts settled and not, with age and whether they can settle', async () => {
    const { receipts } = await json(await f.get('/api/v1/receipts'))
    expect(receipts).toHaveLength(3)
    const open = receipts.find((r: { paymentId: string }) => r.paymentId === 'pi_unsettled')
    expect(open).toMatchObject({
      payer: f.id(f.isl.residents[1]!), payee: f.id(f.isl.utility), contract: 'retail-seller', amountMinor: 25, amountDollars: 0.25, currency: 'USD',
      price: { minorPerMWh: 12_500 }, wh: 2_000, settled: false, settleable: true, reason: null, mine: null
    })
    expect(open.ageMs).toBe(f.isl.clock.now() - open.ts)
    expect(receipts.filter((r: { settled: boolean }) => r.settled)).toHaveLength(2)
    const unsettled = await json(await f.get('/api/v1/receipts?settled=false'))
    expect(unsettled.receipts.map((r: { paymentId: string }) => r.paymentId)).toEqual(['pi_unsettled'])
  })
})

describe('GET /forks', () => {
  it('lists a fork as a fraud proof and the frozen account', async () => {
    const cheat = f.isl.residents[2]!
    const ts = f.isl.clock.now()
    const device = f.isl.devices[1]!.meter.publicKey
    const a = signAt(f.isl, cheat, 'transfer', { contract: 'resident', to: device, wh: 1, receipt: null, window: null }, 0, null, ts)
    const b = signAt(f.isl, cheat, 'transfer', { contract: 'resident', to: device, wh: 2, receipt: null, window: null }, 0, null, ts)
    await f.node.submit(a.bytes)
    await f.node.submit(b.bytes)
    const { forks, frozen } = await json(await f.get('/api/v1/forks'))
    const ids = [toHex(a.id), toHex(b.id)].sort()
    expect(forks).toEqual([{ author: f.id(cheat), label: null, seq: 0, ids, ops: ids.map(id => toHex(id === toHex(a.id) ? a.bytes : b.bytes)), lifted: false }])
    expect(frozen).toEqual([{ account: f.id(cheat), label: null, frozenFrom: 0 }])
    const s = await json(await f.get('/api/v1/status'))
    expect([s.forks, s.frozen]).toEqual([1, 1])
  })
})

describe('bad query and path values', () => {
  const id = (): string => f.id(f.isl.utility)
  // Each: the request, and what the message must say (naming the parameter).
  const cases = (): Array<[string, RegExp]> => [
    ['/api/v1/devices?category=castle', /^query\.category: expected one of household, street-light, stadium, public, business, other, got "castle"$/],
    ['/api/v1/devices?category=', /^query\.category: expected one of household, .*, got ""$/],
    ['/api/v1/devices?category=household&category=street-light', /^query\.category: given more than once/],
    ['/api/v1/devices?categroy=street-light', /^query: unknown parameter "categroy": this route takes category \(and token\)$/],
    ['/api/v1/devices/mg1nope', /^path\.id: account id: "mg1nope" is not valid bech32/],
    [`/api/v1/devices/${'x'.repeat(300)}`, /^path\.id: Too big: expected string to have <=200 characters$/],
    ['/api/v1/accounts?role=castle', /^query\.role: expected one of registrar, oracle, utility, producer, generation-meter, consumer, resident, got "castle"$/],
    ['/api/v1/accounts?role=utility&role=producer', /^query\.role: given more than once/],
    ['/api/v1/accounts?roles=utility', /^query: unknown parameter "roles": this route takes role \(and token\)$/],
    [`/api/v1/accounts/${id().slice(0, -1)}${id().endsWith('q') ? 'p' : 'q'}`, /^path\.id: account id: .*checksum/i],
    ['/api/v1/accounts/%20', /^path\.id: account id: /],
    [`/api/v1/accounts/${id()}?limit=5`, /^query: unknown parameter "limit": this route takes no parameters \(but token\)$/],
    [`/api/v1/accounts/mg1nope/history`, /^path\.id: account id: "mg1nope"/],
    [`/api/v1/accounts/${id()}/history?limit=1e2`, /^query\.limit: expected a whole number 1-500, got "1e2"$/],
    [`/api/v1/accounts/${id()}/history?limit=0x10`, /^query\.limit: expected a whole number 1-500, got "0x10"$/],
    [`/api/v1/accounts/${id()}/history?limit=2.5`, /^query\.limit: expected a whole number 1-500, got "2\.5"$/],
    [`/api/v1/accounts/${id()}/history?limit=-1`, /^query\.limit: expected a whole number 1-500, got "-1"$/],
    [`/api/v1/accounts/${id()}/history?limit=`, /^query\.limit: expected a whole number 1-500, got ""$/],
    [`/api/v1/accounts/${id()}/history?limit=501`, /^query\.limit: expected a whole number 1-500$/],
    [`/api/v1/accounts/${id()}/history?limit=2&limit=3`, /^query\.limit: given more than once/],
    [`/api/v1/accounts/${id()}/history?before=`, /^query\.before: expected a cursor from a previous page/],
    [`/api/v1/accounts/${id()}/history?before=1&before=2`, /^query\.before: given more than once/],
    [`/api/v1/accounts/${id()}/history?page=2`, /^query: unknown parameter "page": this route takes before, limit \(and token\)$/],
    ['/api/v1/receipts?settled=yes', /^query\.settled: expected one of true, false, got "yes"$/],
    ['/api/v1/receipts?settled=', /^query\.settled: expected one of true, false, got ""$/],
    ['/api/v1/receipts?setled=true', /^query: unknown parameter "setled": this route takes settled \(and token\)$/],
    ['/api/v1/status?verbose=1', /^query: unknown parameter "verbose": this route takes no parameters \(but token\)$/],
    ['/api/v1/prices?role=producer', /^query: unknown parameter "role"/],
    ['/api/v1/forks?author=x', /^query: unknown parameter "author"/],
    ['/api/v1/events?since=5', /^query: unknown parameter "since"/],
    ['/api/v1/simulator?on=1', /^query: unknown parameter "on"/]
  ]

  it('refuses each with 400 bad-request and a message naming the parameter and what is wrong', async () => {
    for (const [path, message] of cases()) {
      const res = await f.get(path)
      expect(res.status, path).toBe(400)
      const e = await json(res)
      expect(e.error.code, path).toBe('bad-request')
      expect(e.error.message, path).toMatch(message)
    }
  })

  it('still answers every good value, and the token as a query parameter', async () => {
    for (const category of ['household', 'street-light', 'stadium', 'public', 'business', 'other']) {
      const res = await f.get(`/api/v1/devices?category=${category}`)
      expect(res.status, category).toBe(200)
      const { devices } = await json(res)
      expect(devices.every((d: { category: string }) => d.category === category), category).toBe(true)
    }
    for (const role of ['registrar', 'oracle', 'utility', 'producer', 'generation-meter', 'consumer', 'resident']) {
      expect((await f.get(`/api/v1/accounts?role=${role}`)).status, role).toBe(200)
    }
    expect((await json(await f.get('/api/v1/receipts?settled=true'))).receipts).toHaveLength(2)
    const page = await json(await f.get(`/api/v1/accounts/${id()}/history?limit=500`))
    expect(page.entries.length).toBeGreaterThan(0)
    const viaQuery = await f.app.request(`/api/v1/accounts?role=utility&token=${TOKEN}`)
    expect(viaQuery.status).toBe(200)
    expect((await json(viaQuery)).accounts.map((a: { id: string }) => a.id)).toEqual([id()])
  })
})
