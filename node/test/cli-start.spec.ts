/**
 * `microgrid start` in a child process, driven by the client commands over loopback: a node holding the
 * registrar, oracle, utility and a resident's keys (an island's, imported into its key ring), with a
 * history of an island; status, register a device, pay and see the utility's node settle, buy, fund (with
 * a window), devices, qr (terminal and SVG), history, export CSV, prices; refusals from the API with exit
 * code 1 that change nothing; a second node that joins by the grid link, syncs the history with progress
 * lines and reaches the same state hash; SIGTERM stops both cleanly.
 */
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sha256 } from '@noble/hashes/sha2.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { accountId, generateKeyPair, gridIdText, decodeOp } from '@microgrid/protocol'
import { Ledger, defaultVerifier } from '@microgrid/core'
import { Island } from '@microgrid/core/testing'
import { cli, json, startNode as startCli, until, type NodeProcess } from './cli-process.ts'
import { KeyRing } from '../src/keys.ts'
import { LIGHT_SCRYPT } from '../src/keystore.ts'
import { SqliteStorage } from '../src/sqlite-storage.ts'

const PASS = 'start test passphrase'
const startNode = (data: string, extra: string[] = []): NodeProcess => startCli(data, extra, PASS)
const SEED = 'cli-start'
const HISTORY = 2_600

const exists = async (p: string): Promise<boolean> => await access(p).then(() => true, () => false)

let dir: string
let isl: Island
const nodes: NodeProcess[] = []

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'microgrid-cli-start-'))
  process.env.MICROGRID_PASSPHRASE = PASS
  isl = new Island({ seed: SEED, producers: 1, households: 1, streetLights: 1, residents: 1 })
  isl.simulate(HISTORY)
  const p = isl.producers[0]!
  for (let i = 0; i < 4; i++) isl.mint(p, 5_000)
  isl.sellWholesale(p, 80) // the utility holds units to sell
}, 120_000)

afterAll(async () => {
  for (const n of nodes) if (n.proc.exitCode === null) n.proc.kill('SIGKILL')
  await rm(dir, { recursive: true, force: true })
})

describe('microgrid start and the client commands', () => {
  const A = (): string => join(dir, 'a')
  const B = (): string => join(dir, 'b')
  let a: NodeProcess
  let ready: { api: string, invite: string, peerId: string, grid: string, services: unknown, keys: Array<{ name: string, account: string }> }
  let resident: string
  let utility: string
  let meter: string

  it('starts a node with the island\'s keys and history, prints the API, the peer id and the invite', async () => {
    // The island's keys, imported into the key ring: init keeps keys it finds there (unlocking them).
    const secret = (name: string): Uint8Array => sha256(new TextEncoder().encode(`${SEED}/${name}`))
    const ring = await KeyRing.open(join(A(), 'keys'))
    for (const [name, key] of [['resident', 'resident-0'], ['registrar', 'registrar'], ['oracle', 'oracle'], ['utility', 'utility']] as const) {
      await ring.add(name, secret(key), PASS, { kdf: LIGHT_SCRYPT })
    }
    const init = await json<{ keys: Array<{ name: string, account: string }> }>(['init', '--data', A(), '--keys', 'resident,registrar,oracle,utility', '--light-kdf',
      '--api-port', '0', '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns'])
    resident = accountId(isl.residents[0]!.publicKey)
    utility = accountId(isl.utility.publicKey)
    expect(init.keys.map(k => k.account)).toEqual([resident, accountId(isl.registrar.publicKey), accountId(isl.oracle.publicKey), utility])
    await writeFile(join(dir, 'island.genesis'), isl.genesis)
    expect((await cli(['grid', 'join', '--data', A(), join(dir, 'island.genesis')])).code).toBe(0)
    // The island's history in the node's ledger, as if it had synced it before.
    const storage = SqliteStorage.open(join(A(), 'ledger.sqlite'))
    const ledger = await Ledger.open({ genesis: isl.genesis, storage, verifier: defaultVerifier() })
    const results = await ledger.applyBatch(isl.ops)
    expect(results.every(r => r.status === 'applied')).toBe(true)
    await storage.close()

    a = startNode(A(), ['--json'])
    nodes.push(a)
    ready = JSON.parse(await a.line('out', /^\{/)) as typeof ready
    expect(ready.grid).toBe(gridIdText(decodeOp(isl.genesis).id))
    expect(ready.api).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(ready.peerId).toMatch(/^12D3KooW/)
    expect(ready.invite).toMatch(/^microgrid:invite\?grid=mgrid1.*&addr=%2Fip4%2F127\.0\.0\.1/)
    expect(ready.services).toEqual({ beacons: 'registrar', payments: { oracle: 'oracle', stripe: false }, settlement: ['utility'] })
    const run = JSON.parse(await readFile(join(A(), 'run.json'), 'utf8')) as { url: string, pid: number }
    expect(run).toMatchObject({ url: ready.api, pid: a.proc.pid })

    // Starting it twice is refused.
    const twice = startNode(A())
    expect(await twice.exited).toBe(1)
    expect(twice.err.join('\n')).toMatch(/already running \(pid \d+, API http/)
  }, 120_000)

  it('status and peers, human and --json', async () => {
    const s = await json<{ running: boolean, api: string, grid: { id: string, currency: { code: string } }, ops: { decided: number }, signers: Array<{ name: string }> }>(['status', '--data', A()])
    expect(s).toMatchObject({ running: true, api: ready.api, grid: { id: ready.grid, currency: { code: 'USD' } } })
    expect(s.ops.decided).toBeGreaterThanOrEqual(isl.ops.length)
    expect(s.signers.map(k => k.name)).toEqual(['resident', 'registrar', 'oracle', 'utility'])
    const human = await cli(['status', '--data', A()])
    expect(human.out).toMatch(/^grid +mgrid1\S+ \(Island cli-start, USD\)$/m)
    expect(human.out).toMatch(/^state hash +[0-9a-f]{64}$/m)
    expect(await json(['peers', '--data', A()])).toMatchObject({ peerId: ready.peerId, peers: [] })
  })

  it('accounts, human and --json, and --role', async () => {
    interface Row { id: string, role: string, roles: string[], label: string | null, balanceWh: number }
    const listed = (await json<{ accounts: Row[] }>(['accounts', '--data', A()])).accounts
    // What the API answers, read with the token of config.json (balances do not move in this phase).
    const token = (JSON.parse(await readFile(join(A(), 'config.json'), 'utf8')) as { api: { token: string } }).api.token
    const api = await (await fetch(`${ready.api}/api/v1/accounts`, { headers: { Authorization: `Bearer ${token}` } })).json() as { accounts: Row[] }
    const essentials = (rows: Row[]): unknown[] => rows.map(a => [a.id, a.role, a.label, a.balanceWh])
    expect(essentials(listed)).toEqual(essentials(api.accounts))
    expect(listed.map(a => a.id)).toEqual([...listed.map(a => a.id)].sort())
    expect(listed.find(a => a.id === utility)).toMatchObject({ role: 'utility', label: 'Island Power & Light' })
    expect(listed.find(a => a.id === accountId(isl.registrar.publicKey))).toMatchObject({ role: 'registrar', label: null })
    const supply = (await json<{ supply: { mintedWh: number, burnedWh: number } }>(['status', '--data', A()])).supply
    expect(listed.reduce((sum, a) => sum + a.balanceWh, 0)).toBe(supply.mintedWh - supply.burnedWh)

    const human = (await cli(['accounts', '--data', A()])).out.split('\n')
    expect(human[0]).toMatch(/^account +role +balance +label$/)
    expect(human).toHaveLength(listed.length + 1)
    listed.forEach((a, i) => {
      const kwh = `${(a.balanceWh / 1000).toFixed(3)} kWh`
      expect(human[i + 1], a.id).toMatch(new RegExp(`^${a.id} +${a.role} +${kwh.replace('.', '\\.')}${a.label === null ? '' : ` +${a.label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`}$`))
    })

    const utilities = await json<{ accounts: Row[] }>(['accounts', '--data', A(), '--role', 'utility'])
    expect(utilities.accounts.map(a => a.id)).toEqual([utility])
    expect((await cli(['accounts', '--data', A(), '--role', 'utility'])).out.split('\n')).toHaveLength(2)
  })

  it('registers a device, pays and sees the utility\'s node settle, buys, funds the device with and without a window', async () => {
    meter = accountId(generateKeyPair().publicKey)
    const reg = await json<{ status: string, kind: string }>(['register', 'device', '--data', A(), '--meter', meter, '--label', 'Plaza lamp', '--category', 'street-light', '--position=18.4655,-66.1057'])
    expect(reg).toMatchObject({ status: 'applied', kind: 'register' })
    const devices = await json<{ devices: Array<{ id: string, label: string, qr: string, position: unknown }> }>(['devices', '--data', A(), '--category', 'street-light'])
    const lamp = devices.devices.find(d => d.id === meter)
    expect(lamp).toMatchObject({ label: 'Plaza lamp', position: { lat: 18.4655, lon: -66.1057 }, qr: `microgrid:${meter}?grid=${ready.grid}` })

    const before = (await json<{ balanceWh: number }>(['balance', '--data', A()])).balanceWh
    // The simulated fiat payment: 0.50 USD at 12.5 ¢/kWh is 4 kWh, settled by this node's utility key.
    const paid = await json<{ result: { duplicate: boolean, oracle: string, result: { status: string, kind: string } } }>(['pay', '--data', A(), '--payer', 'resident', '--payee', utility, '--amount', '0.50', '--payment-id', 'cli-test-1'])
    expect(paid.result).toMatchObject({ duplicate: false, oracle: accountId(isl.oracle.publicKey), result: { status: 'applied', kind: 'receipt' } })
    await until('the sale', async () => (await json<{ balanceWh: number }>(['balance', '--data', A(), 'resident'])).balanceWh, b => b === before + 4_000)
    // The same payment id again: receipted once.
    const again = await json<{ result: { duplicate: boolean } }>(['pay', '--data', A(), '--payer', resident, '--payee', 'utility', '--amount', '0.50', '--payment-id', 'cli-test-1'])
    expect(again.result.duplicate).toBe(true)
    // buy: the same through /actions/buy, from the resident key.
    const bought = await cli(['buy', '--data', A(), '--seller', 'utility', '--amount', '0.10'])
    expect(bought.code, bought.err).toBe(0)
    expect(bought.out).toMatch(/^paid 0\.10 USD to mg1\S+ \(retail-seller, payment sim_/)
    await until('the second sale', async () => (await json<{ balanceWh: number }>(['balance', '--data', A()])).balanceWh, b => b === before + 4_800)

    const windowed = await json<{ status: string, funds: { windows: Array<{ remainingWh: number, state: string }>, balanceWh: number } }>(['fund', '--data', A(), meter, '--kwh', '0.5', '--until', '+1h'])
    expect(windowed.status).toBe('applied')
    expect(windowed.funds.windows).toEqual([expect.objectContaining({ remainingWh: 500, state: 'open' })])
    // By its QR link, without a window.
    const byLink = await cli(['fund', '--data', A(), lamp!.qr, '--kwh', '0.25'])
    expect(byLink.code, byLink.err).toBe(0)
    expect(byLink.out).toMatch(/^funded +mg1\S+ with 0\.250 kWh$/m)
    const after = await json<{ devices: Array<{ id: string, funds: { balanceWh: number, usableNowWh: number } }> }>(['devices', '--data', A()])
    expect(after.devices.find(d => d.id === meter)?.funds).toMatchObject({ balanceWh: 750, usableNowWh: 750 })
    expect((await json<{ balanceWh: number }>(['balance', '--data', A()])).balanceWh).toBe(before + 4_800 - 750)
  }, 60_000)

  it('refusals from the node: exit code 1 with the API\'s code and message, nothing changed', async () => {
    const hash = async (): Promise<string> => (await json<{ stateHash: string }>(['status', '--data', A()])).stateHash
    const h = await hash()
    const tooMuch = await cli(['fund', '--data', A(), meter, '--kwh', '100000', '--json'])
    expect(tooMuch.code).toBe(1)
    expect(JSON.parse(tooMuch.err)).toMatchObject({ error: { code: 'insufficient-funds', status: 422, exitCode: 1 } })
    const dup = await cli(['register', 'device', '--data', A(), '--meter', meter, '--label', 'Again'])
    expect(dup.code).toBe(1)
    expect(dup.err).toMatch(/^microgrid: .* \(already-registered\)$/)
    const stranger = accountId(generateKeyPair().publicKey)
    const unknown = await cli(['pay', '--data', A(), '--payer', 'resident', '--payee', stranger, '--amount', '1'])
    expect(unknown.code).toBe(1)
    expect(unknown.err).toMatch(/\(unknown-account\)/)
    const cents = await cli(['pay', '--data', A(), '--payer', 'resident', '--payee', 'utility', '--amount', '0.001'])
    expect(cents.code).toBe(2)
    expect(cents.err).toMatch(/--amount \(USD\): at most 2 decimals/)
    expect(await hash()).toBe(h)
  })

  it('qr in the terminal and as SVG; history; export CSV; prices; account', async () => {
    const q = await cli(['qr', '--data', A(), meter])
    const lines = q.out.split('\n')
    expect(lines[0]).toBe('Plaza lamp (street-light)')
    expect(lines.at(-1)).toBe(`microgrid:${meter}?grid=${ready.grid}`)
    expect(lines.slice(1, -1).every(l => /^[ █▀▄]+$/u.test(l))).toBe(true)
    const svgFile = join(dir, 'lamp.svg')
    expect(await json(['qr', '--data', A(), meter, '--svg', svgFile])).toEqual({ device: meter, label: 'Plaza lamp', qr: `microgrid:${meter}?grid=${ready.grid}`, svg: svgFile })
    expect(await readFile(svgFile, 'utf8')).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[\s\S]*<\/svg>\n$/)

    const page = await json<{ entries: Array<{ kind: string }>, next: string | null }>(['history', '--data', A(), '--limit', '2'])
    expect(page.entries).toHaveLength(2)
    expect(page.next).not.toBeNull()
    const next = await json<{ entries: unknown[] }>(['history', '--data', A(), 'resident', '--limit', '2', '--before', page.next!])
    expect(next.entries).toHaveLength(2)

    const csvFile = join(dir, 'resident.csv')
    const exported = await json<{ rows: number, balanceWh: number, file: string }>(['export', '--data', A(), resident, '--csv', csvFile])
    const balance = (await json<{ balanceWh: number }>(['balance', '--data', A()])).balanceWh
    expect(exported.balanceWh).toBe(balance)
    expect(exported.rows).toBeGreaterThan(500) // more than one page of history
    const csv = (await readFile(csvFile, 'utf8')).split('\r\n').filter(l => l !== '')
    expect(csv[0]).toBe('time,ts,id,kind,author,seq,status,delta_wh,balance_wh,counterparty,contract,body')
    expect(csv).toHaveLength(exported.rows + 1)
    const last = csv.at(-1)!.split(',')
    expect(Number(last[8])).toBe(balance)
    expect(csv.some(l => l.includes(',resident,') && l.includes(meter))).toBe(true)

    const set = await json<{ status: string, kind: string }>(['price', '--data', A(), '--retail', '13', '--as', 'utility'])
    expect(set).toMatchObject({ status: 'applied', kind: 'price' })
    const prices = await json<{ sellers: Array<{ account: string, retail: { minorPerMWh: number } | null }> }>(['price', '--data', A()])
    expect(prices.sellers.find(s => s.account === utility)?.retail?.minorPerMWh).toBe(13_000)
    const acct = await json<{ role: string, prices: { retail: { minorPerMWh: number } } }>(['account', '--data', A(), 'utility'])
    expect(acct).toMatchObject({ role: 'utility', prices: { retail: { minorPerMWh: 13_000 } } })
    expect((await cli(['account', '--data', A()])).out).toMatch(/^balance +\d+\.\d{3} kWh \(spendable now/m)
  })

  it('a second node joins by the grid link, syncs the history with progress lines, and agrees on the state', async () => {
    const { link } = await json<{ link: string }>(['grid', 'export', '--data', A()])
    expect((await cli(['init', '--data', B(), '--light-kdf', '--api-port', '0', '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns'])).code).toBe(0)
    expect((await cli(['grid', 'join', '--data', B(), link])).code).toBe(0)
    const b = startNode(B(), ['--peer', ready.invite])
    nodes.push(b)
    await b.line('out', /^running +until Ctrl-C$/)
    expect(b.out.join('\n')).toMatch(/^connected 12D3KooW\S+$/m)
    const synced = await b.line('err', /^synced +[\d,]+ ops in [\d.]+ s; [\d,]+ decided/)
    expect(Number(/^synced +([\d,]+)/.exec(synced)![1]!.replaceAll(',', ''))).toBeGreaterThan(1_000)
    const target = (await json<{ stateHash: string }>(['status', '--data', A()])).stateHash
    await until('the same state', async () => (await json<{ stateHash: string }>(['status', '--data', B()])).stateHash, h => h === target)
    const peersOfB = await json<{ peers: Array<{ id: string }> }>(['peers', '--data', B()])
    expect(peersOfB.peers.map(p => p.id)).toContain(ready.peerId)
    // B holds only a resident key: no services, yet it reads the same ledger.
    expect((await json<{ balanceWh: number }>(['balance', '--data', B(), resident])).balanceWh).toBe((await json<{ balanceWh: number }>(['balance', '--data', A()])).balanceWh)
  }, 120_000)

  it('SIGTERM stops the nodes cleanly: exit code 0, run.json gone; status is then offline', async () => {
    const hash = (await json<{ stateHash: string }>(['status', '--data', A()])).stateHash
    for (const n of nodes) if (n.proc.exitCode === null) n.proc.kill('SIGTERM')
    for (const n of nodes) expect(await n.exited).toBe(0)
    expect(nodes[0]!.err.join('\n')).toBe('') // --json: nothing on stderr
    expect(nodes[1]!.err).toContain('stopping  (SIGTERM)')
    expect(await exists(join(A(), 'run.json'))).toBe(false)
    expect(await exists(join(B(), 'run.json'))).toBe(false)
    const down = await cli(['status', '--data', A()])
    expect(down.code).toBe(3)
    expect(down.err).toMatch(/not running .*`microgrid status --offline` reads its ledger/)
    const offline = await json<{ running: boolean, stateHash: string, ops: { decided: number } }>(['status', '--data', A(), '--offline'])
    expect(offline).toMatchObject({ running: false, stateHash: hash }) // nothing signed since (beacons every 5 min)
  }, 60_000)
})
