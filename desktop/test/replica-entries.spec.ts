/**
 * The UI's expansion of the replica's slim entries (renderer/src/data/replica-entries.ts): a node's doc,
 * expanded, equals what its read endpoints return, so the pages get the same shapes from either.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { Island } from '@microgrid/core/testing'
import { MicrogridNode, closeApi, createApi, replicaOf } from '@microgrid/node'
import { docFacts, expandAccount, expandDevice, expandReceipt, type StoredAccount, type StoredDevice, type StoredReceipt } from '../renderer/src/data/replica-entries.ts'

const TOKEN = 'replica-entries-token'
let node: MicrogridNode
let app: ReturnType<typeof createApi>
const doc = new Y.Doc()

beforeAll(async () => {
  const isl = new Island({ seed: 'replica-entries', producers: 1, households: 2, streetLights: 1, residents: 2 })
  const p = isl.producers[0]!
  const [r0, r1] = isl.residents as [typeof isl.utility, typeof isl.utility]
  for (let i = 0; i < 3; i++) isl.mint(p, 5_000)
  isl.sellWholesale(p, 80)
  isl.sellRetail(r0, 50)
  isl.fund(r0, isl.devices[0]!, 1_000)
  isl.burn(isl.devices[0]!, 300)
  const now = isl.clock.now()
  isl.fund(r0, isl.devices[1]!, 200, { from: now - 1_000, until: now + 3_600_000 })
  isl.pay(r1.publicKey, isl.utility.publicKey, 'retail-seller', 25, 'pi_settleable')
  isl.pay(r1.publicKey, r0.publicKey, 'retail-seller', 30, 'pi_no_price') // a resident has no price: never settles
  node = await MicrogridNode.start({ genesis: isl.genesis, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
  for (const op of isl.ops) expect((await node.submit(op)).status).toBe('applied')
  app = createApi({ node, token: TOKEN, signers: new Map(), clock: isl.clock })
  await replicaOf(app).flush()
  Y.applyUpdate(doc, replicaOf(app).updateFor(undefined))
})
afterAll(async () => {
  closeApi(app)
  await node?.stop()
})

async function read<T> (path: string): Promise<T> {
  const res = await app.request(`/api/v1${path}`, { headers: { Authorization: `Bearer ${TOKEN}` } })
  expect(res.status).toBe(200)
  return await res.json() as T
}

const byKey = <T>(items: T[], key: (x: T) => string): Record<string, T> => Object.fromEntries(items.map(x => [key(x), x]))

describe('the replica\'s entries, expanded', () => {
  it('are the accounts GET /accounts returns', async () => {
    const { accounts } = await read<{ accounts: Array<{ id: string }> }>('/accounts')
    const expanded = Array.from(doc.getMap<StoredAccount>('accounts').entries(), ([key, stored]) => expandAccount(key, stored))
    expect(byKey(expanded, a => a.id)).toStrictEqual(byKey(accounts, a => a.id))
  })

  it('are the devices GET /devices returns, their label QR payloads included', async () => {
    const { devices } = await read<{ devices: Array<{ id: string, funds: { windows: unknown[] } }> }>('/devices')
    expect(devices.some(d => d.funds.windows.length > 0)).toBe(true)
    const facts = docFacts(doc)
    const expanded = Array.from(doc.getMap<StoredDevice>('devices').entries(), ([key, stored]) => expandDevice(key, stored, facts))
    expect(byKey(expanded, d => d.id)).toStrictEqual(byKey(devices, d => d.id))
  })

  it('are the receipts GET /receipts returns: settled, settleable and never settleable, money and age derived', async () => {
    const { receipts } = await read<{ receipts: Array<{ oracle: string, seq: number, settled: boolean, reason: string | null, amountDollars: number }> }>('/receipts')
    expect(receipts.filter(r => r.settled)).toHaveLength(2)
    expect(receipts.map(r => r.reason)).toContain('no-price')
    expect(receipts.map(r => r.amountDollars)).toContain(0.25)
    const facts = docFacts(doc)
    const expanded = Array.from(doc.getMap<StoredReceipt>('receipts').values(), stored => expandReceipt(stored, facts))
    expect(byKey(expanded, r => `${r.oracle}:${r.seq}`)).toStrictEqual(byKey(receipts, r => `${r.oracle}:${r.seq}`))
  })

  it('keep a field the doc holds as it is, filling in only what it omits', () => {
    const facts = { grid: 'mgrid1grid', currency: { code: 'JPY', digits: 0 }, time: 10_000 }
    const stored: StoredReceipt = { oracle: 'mg1o', seq: 1, payer: 'mg1a', payee: 'mg1b', contract: 'retail-seller', amountMinor: 500, paymentId: 'pi', minorPerMWh: 40_000, ts: 4_000, settled: true }
    const { minorPerMWh: _price, ...kept } = stored
    expect(expandReceipt(stored, facts)).toStrictEqual({
      ...kept, amountDollars: 500, currency: 'JPY', price: { minorPerMWh: 40_000, dollarsPerKWh: 40 }, wh: 12_500, ageMs: 6_000, settleable: false, reason: null, message: null, mine: null
    })
    expect(expandReceipt({ ...stored, currency: 'USD' }, facts).currency).toBe('USD')
  })
})
