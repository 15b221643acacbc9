/**
 * `microgrid init`, `keys`, `grid create|export|join|show`: the data directory, encrypted keys, the
 * passphrase (from the environment; a wrong or missing one is a clear error that changes nothing), and
 * a grid made, exported as a file or a link, and joined.
 */
import { spawnSync } from 'node:child_process'
import { access, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeOp, generateKeyPair, accountId, gridIdText, policyOf, verifyOp, type GenesisBody } from '@microgrid/protocol'
import { main, reportError } from '../src/cli.ts'
import { loadOrCreatePeerKey } from '../src/identity.ts'

const cliPath = fileURLToPath(new URL('../src/cli.ts', import.meta.url))
const PASS = 'correct horse battery staple'
let dir: string

interface Outcome { code: number, out: string, err: string }

async function cli (args: string[], passphrase = PASS): Promise<Outcome> {
  const out: string[] = []
  const err: string[] = []
  const saved = process.env.MICROGRID_PASSPHRASE
  process.env.MICROGRID_PASSPHRASE = passphrase
  try {
    await main(args, l => out.push(l), { err: l => err.push(l), errRaw: t => err.push(t), errIsTTY: false })
    return { code: 0, out: out.join('\n'), err: err.join('\n') }
  } catch (e) {
    return { code: reportError(e, args, l => err.push(l)), out: out.join('\n'), err: err.join('\n') }
  } finally {
    process.env.MICROGRID_PASSPHRASE = saved
  }
}

function spawnCli (args: string[], env: Record<string, string | undefined>): { code: number | null, stdout: string, stderr: string } {
  const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', cliPath, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

const exists = async (p: string): Promise<boolean> => await access(p).then(() => true, () => false)
const mode = async (p: string): Promise<number> => (await stat(p)).mode & 0o777

beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'microgrid-cli-setup-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

describe('microgrid init', () => {
  it('makes the data directory: encrypted keys, the node identity, config.json with a random token (0600)', async () => {
    const data = join(dir, 'isla')
    const r = await cli(['init', '--data', data, '--keys', 'resident,registrar,oracle,utility', '--light-kdf', '--api-port', '4311', '--no-mdns',
      '--listen', '/ip4/127.0.0.1/tcp/0', '--bootstrap', '/ip4/10.0.0.7/tcp/4101/p2p/12D3KooWQqmtgYxJZanaEUVgfaKk7uT6c1rtYWMMXnb9AQdTDdsf', '--json'])
    expect(r.code, r.err).toBe(0)
    const doc = JSON.parse(r.out) as { peerId: string, keys: Array<{ name: string, role: string, account: string }>, kdf: string, config: string }
    expect(doc.keys.map(k => k.role)).toEqual(['resident', 'registrar', 'oracle', 'utility'])
    expect(doc.kdf).toBe('light')
    expect(doc.peerId).toBe(peerIdFromPrivateKey(await loadOrCreatePeerKey(join(data, 'peer.key'))).toString())
    expect(await mode(data)).toBe(0o700)
    expect(await mode(join(data, 'config.json'))).toBe(0o600)
    expect(await mode(join(data, 'peer.key'))).toBe(0o600)
    const config = JSON.parse(await readFile(join(data, 'config.json'), 'utf8')) as {
      api: { host: string, port: number, lan: boolean, token: string }, listen: string[], bootstrap: string[], mdns: boolean, keys: Array<{ name: string, role: string, account: string }>
    }
    expect(config.api).toMatchObject({ host: '127.0.0.1', port: 4311, lan: false })
    expect(config.api.token).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(config.listen).toEqual(['/ip4/127.0.0.1/tcp/0'])
    expect(config.bootstrap).toHaveLength(1)
    expect(config.mdns).toBe(false)
    expect(config.keys).toEqual(doc.keys)
    // The keys: standard keystores, scrypt n = 2^14 with --light-kdf, none in plain text.
    for (const k of doc.keys) {
      const file = join(data, 'keys', `${k.name}.json`)
      expect(await mode(file)).toBe(0o600)
      const ks = JSON.parse(await readFile(file, 'utf8')) as { version: number, crypto: { kdf: string, kdfparams: { n: number } } }
      expect(ks.version).toBe(3)
      expect(ks.crypto.kdf).toBe('scrypt')
      expect(ks.crypto.kdfparams.n).toBe(2 ** 14)
    }
    const index = JSON.parse(await readFile(join(data, 'keys', 'keys.json'), 'utf8')) as { keys: Record<string, { account: string }> }
    expect(index.keys.utility?.account).toBe(doc.keys[3]?.account)
    // Human output names the keys and the next step.
    const human = await cli(['keys', 'list', '--data', data])
    expect(human.out).toMatch(/^resident +resident +mg1/m)

    // A second init changes nothing.
    const before = await readFile(join(data, 'config.json'), 'utf8')
    const again = await cli(['init', '--data', data, '--light-kdf'])
    expect(again.code).toBe(1)
    expect(again.err).toMatch(/already initialised .*nothing was changed/)
    expect(await readFile(join(data, 'config.json'), 'utf8')).toBe(before)
  })

  it('uses the standard scrypt parameters by default, and LAN mode binds every interface', async () => {
    const data = join(dir, 'standard')
    const r = await cli(['init', '--data', data, '--lan', '--json'])
    expect(r.code, r.err).toBe(0)
    const ks = JSON.parse(await readFile(join(data, 'keys', 'resident.json'), 'utf8')) as { crypto: { kdfparams: { n: number, r: number, p: number } } }
    expect(ks.crypto.kdfparams).toMatchObject({ n: 2 ** 18, r: 8, p: 1 })
    const config = JSON.parse(await readFile(join(data, 'config.json'), 'utf8')) as { api: { host: string, port: number, lan: boolean } }
    expect(config.api).toMatchObject({ host: '0.0.0.0', port: 4100, lan: true })
  })

  it('without a passphrase (no variable, no terminal) fails saying how to give one, and makes nothing', () => {
    const data = join(dir, 'nopass')
    const r = spawnCli(['init', '--data', data, '--light-kdf'], { MICROGRID_PASSPHRASE: undefined })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/no passphrase: set MICROGRID_PASSPHRASE or run in a terminal/)
    const json = spawnCli(['init', '--data', data, '--light-kdf', '--json'], { MICROGRID_PASSPHRASE: undefined })
    expect(json.code).toBe(1)
    expect((JSON.parse(json.stderr) as { error: { code: string } }).error.code).toBe('no-passphrase')
    return expect(exists(data)).resolves.toBe(false)
  })
})

describe('microgrid keys and a wrong passphrase', () => {
  it('adds a key with the node\'s passphrase; a wrong one is refused with exit code 1 and changes nothing', async () => {
    const data = join(dir, 'keys')
    expect((await cli(['init', '--data', data, '--light-kdf'])).code).toBe(0)
    const config = await readFile(join(data, 'config.json'), 'utf8')
    const wrong = await cli(['keys', 'add', 'producer', '--data', data, '--light-kdf'], 'not the passphrase')
    expect(wrong.code).toBe(1)
    expect(wrong.err).toMatch(/wrong passphrase for .*resident\.json/)
    expect(await readFile(join(data, 'config.json'), 'utf8')).toBe(config)
    expect(await exists(join(data, 'keys', 'producer.json'))).toBe(false)
    // The real command, with --json.
    const spawned = spawnCli(['keys', 'add', 'producer', '--data', data, '--light-kdf', '--json'], { MICROGRID_PASSPHRASE: 'not the passphrase' })
    expect(spawned.code).toBe(1)
    expect(spawned.stdout).toBe('')
    const err = JSON.parse(spawned.stderr) as { error: { code: string, message: string, exitCode: number } }
    expect(err.error).toMatchObject({ code: 'wrong-passphrase', exitCode: 1 })
    expect(err.error.message).toMatch(/wrong passphrase/)

    const ok = await cli(['keys', 'add', 'producer', '--name', 'rooftop-2', '--data', data, '--light-kdf', '--json'])
    expect(ok.code, ok.err).toBe(0)
    expect(JSON.parse(ok.out)).toMatchObject({ key: { name: 'rooftop-2', role: 'producer' } })
    const list = JSON.parse((await cli(['keys', 'list', '--data', data, '--json'])).out) as { keys: Array<{ name: string, role: string }> }
    expect(list.keys.map(k => `${k.name}:${k.role}`)).toEqual(['resident:resident', 'rooftop-2:producer'])
    const dup = await cli(['keys', 'add', 'producer', '--name', 'rooftop-2', '--data', data, '--light-kdf'])
    expect(dup.code).toBe(1)
    expect(dup.err).toMatch(/already holds a key named "rooftop-2"/)
  })
})

describe('microgrid grid', () => {
  let data: string
  let genesisFile: string
  let link: string
  let grid: string

  beforeAll(async () => {
    data = join(dir, 'grid')
    expect((await cli(['init', '--data', data, '--keys', 'registrar,oracle', '--light-kdf'])).code).toBe(0)
  })

  it('creates a grid signed by the registrar key: protocol v2, the policy given; a wrong passphrase writes nothing', async () => {
    const other = accountId(generateKeyPair().publicKey)
    const args = ['grid', 'create', '--data', data, '--name', 'Isla', '--currency', 'USD', '--oracle', 'oracle', '--oracle', other,
      '--friendly-credit-hours', '0-5,22,23', '--beacon-interval', '1m', '--mint-slack', '10m', '--json']
    const wrong = await cli(args, 'wrong')
    expect(wrong.code).toBe(1)
    expect(JSON.parse(wrong.err)).toMatchObject({ error: { code: 'wrong-passphrase' } })
    expect(await exists(join(data, 'grid.genesis'))).toBe(false)

    const r = await cli(args)
    expect(r.code, r.err).toBe(0)
    const doc = JSON.parse(r.out) as { grid: string, version: number, registrars: string[], oracles: string[], policy: unknown, link: string, file: string }
    const keys = JSON.parse(await readFile(join(data, 'config.json'), 'utf8')) as { keys: Array<{ name: string, account: string }> }
    const registrar = keys.keys.find(k => k.name === 'registrar')!.account
    const oracle = keys.keys.find(k => k.name === 'oracle')!.account
    expect(doc.version).toBe(2)
    expect(doc.registrars).toEqual([registrar])
    expect([...doc.oracles].sort()).toEqual([oracle, other].sort())
    expect(doc.policy).toEqual({ friendlyCreditHours: [0, 1, 2, 3, 4, 5, 22, 23], beaconIntervalMs: 60_000, mintSlackMs: 600_000 })
    genesisFile = doc.file
    const op = decodeOp(await readFile(genesisFile))
    verifyOp(op)
    expect(gridIdText(op.id)).toBe(doc.grid)
    expect(accountId(op.op.author)).toBe(registrar)
    expect(policyOf(op.op.body as GenesisBody).beaconIntervalMs).toBe(60_000)
    grid = doc.grid
    link = doc.link

    const twice = await cli(['grid', 'create', '--data', data, '--name', 'Other', '--currency', 'EUR'])
    expect(twice.code).toBe(1)
    expect(twice.err).toMatch(/already has a grid .*nothing was changed/)
    expect(gridIdText(decodeOp(await readFile(genesisFile)).id)).toBe(grid)
    const show = await cli(['grid', 'show', '--data', data])
    expect(show.out).toMatch(/^policy +friendly-credit hours 0,1,2,3,4,5,22,23; beacons every 1m; mint slack 10m$/m)
  })

  it('shows the grid, human and --json, as create made it', async () => {
    const doc = await cli(['grid', 'show', '--data', data, '--json'])
    expect(doc.code, doc.err).toBe(0)
    const shown = JSON.parse(doc.out) as { registrars: string[], oracles: string[], createdAt: number }
    const op = decodeOp(await readFile(genesisFile))
    const body = op.op.body as GenesisBody
    expect(shown).toEqual({
      grid, name: 'Isla', currency: 'USD', version: 2,
      registrars: body.registrars.map(accountId), oracles: body.oracles.map(accountId),
      policy: { friendlyCreditHours: [0, 1, 2, 3, 4, 5, 22, 23], beaconIntervalMs: 60_000, mintSlackMs: 600_000 },
      createdAt: op.op.ts, file: genesisFile, link
    })
    const human = await cli(['grid', 'show', '--data', data])
    expect(human.code, human.err).toBe(0)
    expect(human.out.split('\n')).toEqual([
      `grid      ${grid}`,
      'name      Isla (USD)',
      ...shown.registrars.map(a => `registrar ${a}`),
      ...shown.oracles.map(a => `oracle    ${a}`),
      'policy    friendly-credit hours 0,1,2,3,4,5,22,23; beacons every 1m; mint slack 10m',
      `genesis   ${genesisFile}`
    ])
    expect(shown.oracles).toHaveLength(2)
  })

  it('exports the genesis as a file, as a link, and as a QR code', async () => {
    const out = join(dir, 'isla.genesis')
    const r = await cli(['grid', 'export', '--data', data, '--out', out, '--json'])
    expect(r.code, r.err).toBe(0)
    expect(JSON.parse(r.out)).toMatchObject({ grid, link, file: out })
    expect(Buffer.from(await readFile(out)).equals(await readFile(genesisFile))).toBe(true)
    expect(link).toMatch(new RegExp(`^microgrid:grid\\?id=${grid}&genesis=[A-Za-z0-9_-]+$`))
    const plain = await cli(['grid', 'export', '--data', data])
    expect(plain.out).toBe(link)
    const qr = await cli(['grid', 'export', '--data', data, '--qr'])
    const lines = qr.out.split('\n')
    expect(lines[0]).toBe(link)
    expect(lines.length).toBeGreaterThan(20)
    expect(lines.slice(1).every(l => /^[ █▀▄]+$/u.test(l))).toBe(true)
  })

  it('joins a grid from the file or from the link; refuses another grid, a damaged link and a non-genesis file', async () => {
    const a = join(dir, 'join-a')
    const b = join(dir, 'join-b')
    for (const d of [a, b]) expect((await cli(['init', '--data', d, '--light-kdf'])).code).toBe(0)
    const fromFile = await cli(['grid', 'join', '--data', a, join(dir, 'isla.genesis'), '--json'])
    expect(fromFile.code, fromFile.err).toBe(0)
    expect(JSON.parse(fromFile.out)).toMatchObject({ grid, joined: true })
    const again = await cli(['grid', 'join', '--data', a, link, '--json'])
    expect(JSON.parse(again.out)).toMatchObject({ grid, joined: false })
    const fromLink = await cli(['grid', 'join', '--data', b, link])
    expect(fromLink.code, fromLink.err).toBe(0)
    expect(Buffer.from(await readFile(join(b, 'grid.genesis'))).equals(await readFile(genesisFile))).toBe(true)
    // A file holding the link's text is read as the link.
    await writeFile(join(dir, 'link.txt'), link + '\n')
    expect((await cli(['grid', 'join', '--data', b, join(dir, 'link.txt')])).code).toBe(0)

    // Another grid: refused, the directory keeps its own.
    const c = join(dir, 'join-c')
    expect((await cli(['init', '--data', c, '--keys', 'registrar,oracle', '--light-kdf'])).code).toBe(0)
    expect((await cli(['grid', 'create', '--data', c, '--name', 'Cayo', '--currency', 'USD'])).code).toBe(0)
    const cGenesis = await readFile(join(c, 'grid.genesis'))
    const other = await cli(['grid', 'join', '--data', c, link])
    expect(other.code).toBe(1)
    expect(other.err).toMatch(/is on grid mgrid1.*, not mgrid1.*nothing was changed/)
    expect(Buffer.from(await readFile(join(c, 'grid.genesis'))).equals(cGenesis)).toBe(true)

    const d = join(dir, 'join-d')
    expect((await cli(['init', '--data', d, '--light-kdf'])).code).toBe(0)
    const cLink = JSON.parse((await cli(['grid', 'export', '--data', c, '--json'])).out) as { link: string, grid: string }
    const swapped = cLink.link.replace(cLink.grid, grid)
    const r1 = await cli(['grid', 'join', '--data', d, swapped])
    expect(r1.code).toBe(1)
    expect(r1.err).toMatch(/it says grid .* but its genesis is grid .* \(a damaged or altered link\)/)
    const truncated = await cli(['grid', 'join', '--data', d, link.slice(0, -20)])
    expect(truncated.code).toBe(1)
    expect(truncated.err).toMatch(/grid link: not a genesis op/)
    await writeFile(join(dir, 'junk.bin'), new Uint8Array([1, 2, 3]))
    const junk = await cli(['grid', 'join', '--data', d, join(dir, 'junk.bin')])
    expect(junk.code).toBe(1)
    expect(junk.err).toMatch(/junk\.bin: not a genesis op/)
    const missing = await cli(['grid', 'join', '--data', d, join(dir, 'nope.genesis')])
    expect(missing.code).toBe(1)
    expect(missing.err).toMatch(/cannot read .*nope\.genesis \(ENOENT\)/)
    expect(await exists(join(d, 'grid.genesis'))).toBe(false)
  })

  it('start refuses a wrong passphrase before anything starts (exit code 1)', () => {
    const r = spawnCli(['start', '--data', join(dir, 'join-a'), '--api-port', '0', '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns'], { MICROGRID_PASSPHRASE: 'wrong' })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^microgrid: wrong passphrase for .*resident\.json: give the passphrase the keys were made with/)
    expect(r.stdout).toBe('')
    return Promise.all([
      expect(exists(join(dir, 'join-a', 'run.json'))).resolves.toBe(false),
      expect(exists(join(dir, 'join-a', 'ledger.sqlite'))).resolves.toBe(false)
    ])
  })
})
