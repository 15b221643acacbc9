/**
 * The seed's story end to end, over the command line and the HTTP API, across three nodes each run by
 * `microgrid start` in its own process: the utility's (registrar, payment oracle with Stripe webhooks,
 * utility), a rooftop producer's and a household's. Meter agents (simulated pulses, real light peers)
 * mint and burn through their own nodes.
 *
 *  1. The producer's generation meter mints.
 *  2. The utility pays the producer through a Stripe webhook (delivered twice): the producer's node
 *     settles it once, and the utility holds units bought at the wholesale price.
 *  3. A resident pays the utility (the payment simulator, `microgrid pay`): the utility's node settles
 *     it, and the resident holds units bought at the retail price.
 *  4. The resident funds the household (`microgrid fund`) and a street light with a window (the API's
 *     `POST /actions/fund`); both meters burn, and the household's relay opens at zero.
 *  5. Every node ends with the same balances and the same state hash.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Stripe from 'stripe'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { accountId, decodeOp, generateKeyPair, keySigner, type OpSigner } from '@microgrid/protocol'
import { systemClock } from '@microgrid/core'
import {
  LightClient, MeterAgent, StateStore, simulatedRelay, simulatedSource, type RelayDriver
} from '@microgrid/meter-agent'
import { json, startNode, until, type NodeProcess } from '../../node/test/cli-process.ts'

const PASS = 'seed story passphrase'
const STRIPE_SECRET = 'whsec_seed_story'
const WHOLESALE_CENTS_PER_KWH = 8
const RETAIL_CENTS_PER_KWH = 12.5

interface Ready { api: string, invite: string, keys: Array<{ name: string, account: string }> }
interface Account { id: string, balanceWh: number }

let dir: string
const procs: NodeProcess[] = []
const agents: MeterAgent[] = []

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'microgrid-seed-story-'))
  process.env.MICROGRID_PASSPHRASE = PASS
})

afterAll(async () => {
  for (const a of agents) await a.stop().catch(() => {})
  for (const p of procs) if (p.proc.exitCode === null) p.proc.kill('SIGKILL')
  await rm(dir, { recursive: true, force: true })
})

describe('the seed story across three nodes, over the CLI and the API', () => {
  const U = (): string => join(dir, 'utility')
  const P = (): string => join(dir, 'producer')
  const H = (): string => join(dir, 'home')
  const ready: Record<string, Ready> = {}
  const token: Record<string, string> = {}
  const account: Record<string, string> = {}
  const meters: Record<'solar' | 'home' | 'street', OpSigner> = {
    solar: keySigner(generateKeyPair().secretKey),
    home: keySigner(generateKeyPair().secretKey),
    street: keySigner(generateKeyPair().secretKey)
  }
  const relays: Record<string, RelayDriver> = {}

  const api = async <T>(node: 'utility' | 'producer' | 'home', path: string, init: RequestInit = {}): Promise<T> => {
    const res = await fetch(`${ready[node]!.api}/api/v1${path}`, {
      ...init, headers: { Authorization: `Bearer ${token[node]}`, 'Content-Type': 'application/json', ...init.headers }
    })
    const body = await res.json() as T
    if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(body)}`)
    return body
  }
  const balances = async (node: 'utility' | 'producer' | 'home'): Promise<Record<string, number>> =>
    Object.fromEntries((await api<{ accounts: Account[] }>(node, '/accounts')).accounts.map(a => [a.id, a.balanceWh]))
  const balance = async (node: 'utility' | 'producer' | 'home', id: string): Promise<number> => (await balances(node))[id] ?? 0

  it('sets up three nodes: a grid created at the utility, joined by the producer and the household by its link', async () => {
    const setups: Array<[string, () => string, string]> = [['utility', U, 'registrar,oracle,utility'], ['producer', P, 'producer'], ['home', H, 'resident']]
    for (const [name, data, keys] of setups) {
      const init = await json<{ keys: Array<{ role: string, account: string }> }>(['init', '--data', data(), '--keys', keys, '--light-kdf',
        '--api-port', '0', '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns'])
      for (const k of init.keys) account[k.role] = k.account
      token[name] = (JSON.parse(await readFile(join(data(), 'config.json'), 'utf8')) as { api: { token: string } }).api.token
    }
    await json(['grid', 'create', '--data', U(), '--name', 'Isla', '--currency', 'USD', '--beacon-interval', '1s', '--mint-slack', '2m'])
    const { link } = await json<{ link: string }>(['grid', 'export', '--data', U()])
    for (const data of [P(), H()]) expect((await json<{ joined: boolean }>(['grid', 'join', '--data', data, link])).joined).toBe(true)

    const start = async (name: string, data: string, extra: string[], env: Record<string, string> = {}): Promise<void> => {
      const p = startNode(data, ['--json', ...extra], PASS, env)
      procs.push(p)
      ready[name] = JSON.parse(await p.line('out', /^\{/)) as Ready
    }
    await start('utility', U(), [], { MICROGRID_STRIPE_SECRETS: STRIPE_SECRET })
    await start('producer', P(), ['--peer', ready.utility!.invite])
    await start('home', H(), ['--peer', ready.utility!.invite])
    for (const name of ['utility', 'producer', 'home'] as const) {
      await until(`${name} connected`, async () => (await api<{ peers: unknown[] }>(name, '/status')).peers.length, n => n >= 1)
    }
  }, 180_000)

  it('registers the utility, the producer with its meter, the household and the street light, and sets prices', async () => {
    const reg = async (args: string[]): Promise<void> => {
      expect((await json<{ status: string }>(['register', ...args, '--data', U()])).status).toBe('applied')
    }
    await reg(['utility', '--account', account.utility!, '--label', 'Isla Power & Light'])
    await reg(['producer', '--account', account.producer!, '--meter', accountId(meters.solar.publicKey), '--capacity', '200000', '--label', 'Rooftop solar'])
    await reg(['device', '--meter', accountId(meters.home.publicKey), '--label', 'Household 1', '--category', 'household', '--position=18.4655,-66.1057'])
    await reg(['device', '--meter', accountId(meters.street.publicKey), '--label', 'Street light, Calle Luna', '--category', 'street-light', '--position=18.4660,-66.1040'])
    await until('the producer\'s node sees its registration', async () => (await api<{ role: string | null }>('producer', `/accounts/${account.producer}`)).role, r => r === 'producer')
    expect((await json<{ status: string }>(['price', '--data', P(), '--wholesale', String(WHOLESALE_CENTS_PER_KWH), '--retail', '11'])).status).toBe('applied')
    expect((await json<{ status: string }>(['price', '--data', U(), '--retail', String(RETAIL_CENTS_PER_KWH)])).status).toBe('applied')
    const prices = await until('the utility\'s node sees both prices', async () => await json<{ sellers: Array<{ account: string, wholesale: unknown, retail: unknown }> }>(['price', '--data', U()]),
      p => p.sellers.filter(s => s.retail !== null).length === 2)
    expect(prices.sellers.find(s => s.account === account.producer)?.wholesale).not.toBeNull()
  }, 120_000)

  it('the producer\'s generation meter mints through the producer\'s node', async () => {
    const genesis = decodeOp(await readFile(join(U(), 'grid.genesis')))
    const run = async (name: 'solar' | 'home' | 'street', node: 'utility' | 'producer' | 'home', powerW: number): Promise<void> => {
      const role = name === 'solar' ? 'generation' : 'consumption'
      const relay = role === 'consumption' ? simulatedRelay() : null
      if (relay !== null) relays[name] = relay
      const inner = simulatedSource({ powerW, pulsesPerKwh: 1000, maxPowerW: powerW * 3 })
      // No power flows through an open relay.
      const source = { start: async (l: Parameters<typeof inner.start>[0]) => await inner.start(e => { if (relay === null || relay.state === true) l(e) }), stop: async () => await inner.stop() }
      const addr = (await api<{ addresses: string[] }>(node, '/status')).addresses.find(a => a.includes('/p2p/')) as string
      const agent = new MeterAgent({
        role, signer: meters[name], genesis, transport: await LightClient.start([addr]), source, relay,
        store: await StateStore.open(join(dir, 'meters', name)), clock: systemClock, pulsesPerKwh: 1000, whPerOp: 20,
        timing: { syncEveryMs: 500, fundsEveryMs: 500 }, autoSync: true
      })
      await agent.start()
      agents.push(agent)
    }
    await run('solar', 'producer', 72_000) // 20 Wh a second
    await run('home', 'home', 36_000) // 10 Wh a second, once funded
    await run('street', 'utility', 36_000)
    await until('the meter mints 400 Wh', async () => await balance('producer', account.producer!), wh => wh >= 400, 60_000)
  }, 120_000)

  let wholesaleWh = 0
  it('the utility pays the producer by a Stripe webhook, delivered twice: settled once, at the wholesale price', async () => {
    const before = await balance('utility', account.utility!)
    const payload = JSON.stringify({
      id: 'evt_seed_1', object: 'event', type: 'payment_intent.succeeded', created: Math.floor(Date.now() / 1000), livemode: false,
      data: { object: { id: 'pi_seed_wholesale', object: 'payment_intent', amount: 2, amount_received: 2, currency: 'usd', status: 'succeeded',
        metadata: { payer: account.utility, payee: account.producer, contract: 'wholesale-seller' } } }
    })
    const deliver = async (): Promise<Response> => await fetch(`${ready.utility!.api}/api/v1/payments/stripe`, {
      method: 'POST', body: payload,
      headers: { 'Content-Type': 'application/json', 'Stripe-Signature': Stripe.webhooks.generateTestHeaderString({ payload, secret: STRIPE_SECRET }) }
    })
    const [first, again] = [await deliver(), await deliver()]
    expect(first.status).toBe(200)
    expect(again.status).toBe(200)
    wholesaleWh = Math.floor(2 * 1000 / WHOLESALE_CENTS_PER_KWH) // 2 ¢ at 8 ¢/kWh: 250 Wh
    await until('the producer\'s node settles the payment', async () => await balance('utility', account.utility!), wh => wh >= before + wholesaleWh, 60_000)
    const receipts = await api<{ receipts: Array<{ paymentId: string, settled: boolean }> }>('utility', '/receipts')
    expect(receipts.receipts.filter(r => r.paymentId === 'pi_seed_wholesale')).toHaveLength(1)
    expect(await balance('utility', account.utility!)).toBe(before + wholesaleWh)
  }, 120_000)

  it('a resident pays the utility (the payment simulator) and holds units at the retail price', async () => {
    const paid = await json<{ result: { paymentId: string, duplicate: boolean } }>(['pay', '--data', U(), '--payer', account.resident!, '--payee', account.utility!, '--amount', '0.02', '--payment-id', 'sim_seed_retail'])
    expect(paid.result.duplicate).toBe(false)
    const retailWh = Math.floor(2 * 1000 / RETAIL_CENTS_PER_KWH) // 2 ¢ at 12.5 ¢/kWh: 160 Wh
    await until('the resident\'s node sees the units', async () => await balance('home', account.resident!), wh => wh === retailWh, 60_000)
    expect(await balance('utility', account.utility!)).toBe(wholesaleWh - retailWh)
  }, 120_000)

  it('the resident funds the household (CLI) and a street light with a window (API); both meters burn; the household goes dark at zero', async () => {
    const home = await json<{ status: string }>(['fund', '--data', H(), accountId(meters.home.publicKey), '--kwh', '0.06'])
    expect(home.status).toBe('applied')
    const now = Date.now()
    const street = await api<{ status: string }>('home', '/actions/fund', {
      method: 'POST', body: JSON.stringify({ device: accountId(meters.street.publicKey), wh: 60, window: { from: now - 1_000, until: now + 10 * 60_000 } })
    })
    expect(street.status).toBe('applied')
    type Device = { id: string, funds: { burnedWh: number, usableNowWh: number }, meter: { relay: boolean } | null }
    const device = async (node: 'utility' | 'home', m: OpSigner): Promise<Device> => await api<Device>(node, `/devices/${accountId(m.publicKey)}`)
    await until('the household burns its 60 Wh', async () => (await device('home', meters.home)).funds.burnedWh, wh => wh === 60, 60_000)
    await until('the street light burns its 60 Wh', async () => (await device('utility', meters.street)).funds.burnedWh, wh => wh === 60, 60_000)
    await until('the household\'s relay opens at zero', async () => relays.home!.state, on => on === false, 30_000)
    expect((await device('home', meters.home)).funds.usableNowWh).toBe(0)
  }, 150_000)

  it('every node ends with the same balances and the same state hash', async () => {
    for (const a of agents.splice(0)) await a.stop()
    const hashes = async (): Promise<string[]> => await Promise.all((['utility', 'producer', 'home'] as const).map(async n => (await json<{ stateHash: string }>(['status', '--data', { utility: U(), producer: P(), home: H() }[n]])).stateHash))
    const settled = await until('three equal state hashes', hashes, hs => new Set(hs).size === 1, 60_000)
    const all = await Promise.all((['utility', 'producer', 'home'] as const).map(balances))
    expect(all[1]).toEqual(all[0])
    expect(all[2]).toEqual(all[0])
    expect(all[0]![account.resident!]).toBe(160 - 120)
    expect(all[0]![accountId(meters.home.publicKey)]).toBe(0)
    const status = await api<{ supply: { mintedWh: number, burnedWh: number } }>('utility', '/status')
    const held = Object.values(all[0]!).reduce((a, b) => a + b, 0)
    expect(held).toBe(status.supply.mintedWh - status.supply.burnedWh)
    expect(status.supply.burnedWh).toBe(120)
    expect(settled).toHaveLength(3)
    for (const p of procs) p.proc.kill('SIGTERM')
    expect(await Promise.all(procs.map(async p => await p.exited))).toEqual([0, 0, 0])
  }, 120_000)
})
